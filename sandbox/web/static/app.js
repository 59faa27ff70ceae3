// The page of `sandbox web`: draws what the server sends, sends the controls back.
// Plain JavaScript, no build step and nothing fetched from elsewhere: it works offline.
// Everything the guest controls (strings, output) is put in the page as text, never as HTML.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (sel, root = document) => root.querySelector(sel);
let socket = null;
let controls = [];
let pauseKeys = [];
let running = false;
let panes = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "title") node.title = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function act(action) {
  if (running) return;
  send({type: "action", action});
}

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "hello") onHello(msg);
    else if (msg.type === "state") onState(msg);
    else if (msg.type === "progress") onProgress(msg);
    else if (msg.type === "running") onRunning(msg);
    else if (msg.type === "error") showError(msg.message);
  };
  socket.onclose = () => {
    setStatus("disconnected: the server stopped (start sandbox web again)");
    document.body.classList.add("disconnected");
  };
}

// -- controls -----------------------------------------------------------------------------

function keyName(k) {
  return {ArrowRight: "→", ArrowLeft: "←", ArrowDown: "↓", ArrowUp: "↑", Escape: "Esc"}[k] || k;
}

function onHello(msg) {
  controls = msg.controls;
  pauseKeys = msg.pause_keys;
  const nav = $("#controls");
  nav.replaceChildren();
  for (const c of controls) {
    const b = el("button", {"data-action": c.action, class: c.reverse ? "reverse" : "", title: `${c.title} (${c.keys.map(keyName).join(" or ")})`},
      c.label, el("kbd", {text: c.keys.map(keyName).join(" ")}));
    b.addEventListener("click", () => act(c.action));
    nav.append(b);
  }
  const pause = el("button", {id: "pause", "data-action": "pause", title: "stop the running program now (p)"}, "Pause", el("kbd", {text: "p"}));
  pause.addEventListener("click", () => send({type: "pause"}));
  nav.append(pause);
  $("#programs").textContent = msg.programs.map((p) => `${p.path} (${p.arch})`).join("  vs  ");
  document.body.classList.toggle("compare", msg.compare);
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest && event.target.closest("input, textarea")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (pauseKeys.includes(event.key)) { send({type: "pause"}); event.preventDefault(); return; }
  const c = controls.find((c) => c.keys.includes(event.key));
  if (c) { act(c.action); event.preventDefault(); }
});

function onRunning(msg) {
  running = true;
  document.body.classList.add("running");
  setStatus(`running (${msg.action})…`);
}

function onProgress(msg) {
  setStatus(`running… ${msg.syscalls.map((n) => n.toLocaleString("en")).join(" / ")} system calls, ${msg.seconds} s (p pauses)`);
}

function setStatus(text) { $("#status").textContent = text; }

function showError(text) {
  const box = $("#error");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

// -- the state ----------------------------------------------------------------------------

function onState(msg) {
  running = false;
  document.body.classList.remove("running");
  const container = $("#panes");
  container.classList.toggle("compare", msg.compare);
  while (panes.length < msg.panes.length) {
    const node = $("#pane-template").content.firstElementChild.cloneNode(true);
    const index = panes.length;
    node.dataset.pane = String(index);
    $(".memory-form", node).addEventListener("submit", (event) => {
      event.preventDefault();
      const address = $(".memory-address", node).value.trim();
      if (address) send({type: "memory", pane: index, address});
    });
    container.append(node);
    panes.push(node);
  }
  msg.panes.forEach((p, i) => drawPane(panes[i], p, i));
  setStatus(msg.panes.map((p) => `${msg.compare ? p.arch.name + ": " : ""}${p.status.text}`).join("   |   "));
  drawDiff(msg);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}

function drawPane(node, s, index) {
  node.dataset.arch = s.arch.name;
  node.dataset.ended = s.status.ended ? "1" : "0";
  $(".arch-name", node).textContent = s.arch.name;
  $(".program-name", node).textContent = s.argv.join(" ");
  drawConvention($(".convention", node), s.arch);
  $(".source-kind", node).textContent = s.source.kind ? `with the source (${s.source.kind})` : "";
  drawCode($(".code tbody", node), s.code, index);
  drawCard($(".card", node), s.card, index);
  drawRegisters($(".registers tbody", node), $(".other-registers", node), s.registers);
  drawMemory($(".memory tbody", node), s.memory, node);
  drawTrace(node, s.trace, s.recording);
  $(".stdout", node).textContent = s.stdout.text;
  $(".stderr", node).textContent = s.stderr.text;
  const exit = $(".exit", node);
  exit.textContent = s.status.ended ? s.status.text : "";
  exit.className = "exit" + (s.status.signal ? " killed" : "");
  // One process today; with several tasks the current one is marked.
  const many = s.tasks.length > 1;
  $(".task-list", node).textContent = s.tasks.map((t) => `pid ${t.pid} ${t.name}, ${t.state}${many && t.current ? " ◀ current" : ""}`).join("; ");
}

function drawConvention(node, a) {
  const clob = a.clobbers.length ? a.clobbers.map((c) => `${c.register} (${c.gets})`).join(", ") : "nothing";
  node.replaceChildren(
    el("span", {class: "conv"}, "trap ", el("code", {text: a.trap})),
    el("span", {class: "conv role-number"}, "number in ", el("code", {text: a.number_reg})),
    el("span", {class: "conv role-arg"}, "arguments in ", el("code", {text: a.arg_regs.join(" ")})),
    el("span", {class: "conv role-result"}, "result in ", el("code", {text: a.ret_reg})),
    el("span", {class: "conv role-clobber"}, "the trap also overwrites ", el("code", {text: clob})),
  );
}

function drawCode(tbody, rows, pane) {
  tbody.replaceChildren();
  for (const r of rows) {
    const addr = el("td", {class: "addr", title: r.breakpoint ? "delete the breakpoint" : "set a breakpoint here"}, r.address);
    addr.addEventListener("click", () => send({type: "breakpoint", pane, address: r.address}));
    const tr = el("tr", {class: [r.current ? "current" : "", r.breakpoint ? "breakpoint" : "", r.data ? "data" : ""].join(" ").trim(), "data-address": r.address},
      el("td", {class: "mark", text: r.current ? "▶" : (r.breakpoint ? "●" : "")}),
      addr,
      el("td", {class: "sym", text: r.symbol ? `<${r.symbol}>` : ""}),
      el("td", {class: "insn", text: r.text}),
      el("td", {class: "src", text: r.line ? `${r.line}  ${r.source.trim().replace(/\s{2,}/g, "  ")}` : ""}));
    tbody.append(tr);
  }
}

const PHASES = {
  trap: "about to be made: the next instruction traps into the kernel",
  entry: "entered: the kernel has it, not yet served",
  return: "returned",
  earlier: "the latest system call",
};

function drawCard(node, c, pane) {
  node.replaceChildren();
  if (!c) {
    node.append(el("p", {class: "empty", text: "No system call yet: step to one (↓ goes to the next)."}));
    node.dataset.phase = "";
    return;
  }
  node.dataset.phase = c.phase;
  node.dataset.name = c.name;
  node.append(
    el("div", {class: "card-head"},
      el("span", {class: "phase phase-" + c.phase, text: PHASES[c.phase]}),
      el("span", {class: "number-line role-number", text: c.number_line}),
      el("span", {class: "trap", text: `${c.trap} at ${c.pc}`})),
    el("p", {class: "decl"}, el("code", {text: c.decl}), el("span", {class: "model", text: ` · the model: ${c.model}`})));
  const table = el("table", {class: "args"});
  for (const a of c.args) {
    const value = el("td", {class: "value", text: a.text});
    if (a.pointer) {
      const link = el("button", {class: "pointer", title: "show this memory", text: "memory"});
      link.addEventListener("click", () => send({type: "memory", pane, address: a.pointer}));
      value.append(" ", link);
    }
    table.append(el("tr", {class: "arg-row", "data-name": a.name, title: a.about},
      el("td", {class: "reg role-arg", text: a.reg}),
      el("td", {class: "name", text: a.name}),
      el("td", {class: "ctype", text: a.type}),
      el("td", {class: "raw", text: a.raw}),
      value));
  }
  node.append(table);
  const result = el("div", {class: "result"});
  if (c.result) {
    result.dataset.value = String(c.result.value);
    result.append(el("span", {class: "reg role-result", text: `${c.result.reg} = ${c.result.value}`}));
    if (c.result.errno) {
      result.classList.add("error");
      result.append(el("span", {class: "errno", text: ` -${c.result.errno}: ${c.result.message}`}));
    } else {
      if (!c.result.same) result.append(el("span", {class: "rendered", text: `  (${c.result.text})`}));
    }
  } else if (!c.returns) {
    result.append(el("span", {text: "does not return: the process ends here"}));
  } else {
    result.append(el("span", {class: "pending", text: `the result will be in ${c.ret_reg}`}));
  }
  if (c.clobbers.length) {
    result.append(el("span", {class: "clobbers role-clobber", text: ` · ${c.trap} also overwrites ${c.clobbers.map((x) => `${x.register} (${x.gets})`).join(", ")}`}));
  }
  node.append(result);
  if (c.changes.length) {
    const list = el("div", {class: "changes"}, el("h3", {text: "Memory the call wrote"}));
    for (const ch of c.changes) {
      const line = el("div", {class: "change" + (ch.changed ? " changed" : "")},
        el("code", {text: `${ch.param} @ ${ch.address}`}),
        ` ${ch.changed ? ch.changed + " of " + ch.size + " bytes changed" : "unchanged (" + ch.size + " bytes)"}: `,
        el("code", {class: "after", text: ch.text}));
      line.addEventListener("click", () => send({type: "memory", pane, address: ch.address}));
      list.append(line);
    }
    node.append(list);
  }
}

function drawRegisters(tbody, others, regs) {
  // The registers the system call convention names come first, each with its role; the
  // others follow in a compact grid.
  tbody.replaceChildren();
  others.replaceChildren();
  const named = regs.filter((r) => r.roles.length).sort((a, b) => a.order - b.order);
  for (const r of named) {
    const roles = r.roles.map((x) => x.role);
    tbody.append(el("tr", {"data-reg": r.name, class: [r.changed ? "changed" : "", ...roles.map((x) => "role-" + x)].join(" ").trim()},
      el("td", {class: "name", text: r.name}),
      el("td", {class: "hex", text: r.hex}),
      el("td", {class: "dec", text: r.decimal}),
      el("td", {class: "roles", text: r.roles.map((x) => x.label).join(" · ")})));
  }
  for (const r of regs.filter((r) => !r.roles.length)) {
    others.append(el("div", {"data-reg": r.name, class: "reg-cell" + (r.changed ? " changed" : ""), title: `${r.name} = ${r.decimal}`},
      el("span", {class: "name", text: r.name}), el("span", {class: "hex", text: r.hex})));
  }
}

function drawMemory(tbody, m, node) {
  tbody.replaceChildren();
  if (!m) {
    tbody.append(el("tr", {}, el("td", {class: "empty", text: "Click “memory” next to a pointer, or type an address."})));
    return;
  }
  const input = $(".memory-address", node);
  if (document.activeElement !== input) input.value = m.address;
  for (const row of m.rows) {
    const hex = el("td", {class: "hexbytes"});
    row.bytes.forEach((b, i) => {
      const cls = [row.focus.includes(i) ? "focus" : "", row.changed.includes(i) ? "written" : ""].join(" ").trim();
      hex.append(el("span", {class: cls || null, text: b === null ? "--" : b}), i === 7 ? "  " : " ");
    });
    tbody.append(el("tr", {}, el("td", {class: "addr", text: row.address}), hex, el("td", {class: "ascii", text: row.text})));
  }
}

function drawTrace(node, t, rec) {
  const pre = $(".trace", node);
  const lines = [];
  if (t.start > 0) lines.push(`… ${t.start.toLocaleString("en")} earlier calls`);
  lines.push(...t.lines);
  if (t.ending) lines.push(t.ending);
  pre.textContent = lines.join("\n");
  pre.scrollTop = pre.scrollHeight;
  let count = `${t.total.toLocaleString("en")} call${t.total === 1 ? "" : "s"}`;
  if (rec.on) count += ` · reverse: ${rec.checkpoints.toLocaleString("en")} of ${rec.limit.toLocaleString("en")} checkpoints`;
  else count += " · not recording";
  $(".trace-count", node).textContent = count;
  $(".trace-count", node).title = rec.note || "";
}

function drawDiff(msg) {
  const box = $("#diff");
  if (!msg.compare) { box.hidden = true; return; }
  box.hidden = false;
  $("#diff-a").textContent = msg.panes[0].arch.name;
  $("#diff-b").textContent = msg.panes[1].arch.name;
  const tbody = $("#diff-table tbody");
  tbody.replaceChildren();
  for (const r of msg.diff.rows) {
    const cls = [r.differs ? "differs" : "same", r.number_differs ? "number-differs" : "", r.register_differs ? "register-differs" : "", r.value_differs ? "value-differs" : ""].join(" ").trim();
    tbody.append(el("tr", {class: cls, "data-what": r.what}, el("th", {text: r.what}), el("td", {text: r.a}), el("td", {text: r.b})));
  }
  if (!msg.diff.rows.length) tbody.append(el("tr", {}, el("td", {colspan: "3", class: "empty", text: "Press ↓ to advance both to their next system call."})));
}

connect();
