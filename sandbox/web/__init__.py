"""``sandbox web``: a page in the browser that steps through a program and shows each system
call register by register, for one arch or two side by side.

- :mod:`sandbox.web.session`: the programs under the debugger and what the page shows (plain data);
- :mod:`sandbox.web.views`: the parts of the page (code, registers, the call card, memory);
- :mod:`sandbox.web.observer`: each call's record and the memory it wrote;
- :mod:`sandbox.web.sourcemap`: the source line of each instruction;
- :mod:`sandbox.web.protocol`: the messages over the WebSocket;
- :mod:`sandbox.web.server`: the local server (aiohttp, the ``web`` extra);
- ``static/``: the page itself, plain HTML, CSS and JavaScript with no build step.
"""
