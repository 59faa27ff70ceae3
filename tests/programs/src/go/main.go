// A small multi-call Go program for the acceptance tests: `gofeatures CASE [ARGS]`.
//
// Even hello world starts the Go runtime's threads (clone), signal handlers, timers and its
// poller, so every case measures those; the cases add goroutines, channels, timers, a child
// process and a nil dereference turned into a panic. Output is deterministic. It avoids fmt
// to keep the binary near a megabyte.
package main

import (
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func say(parts ...string) {
	os.Stdout.WriteString(strings.Join(parts, "") + "\n")
}

func hello([]string) int {
	say("hello from Go on ", runtime.GOARCH)
	return 0
}

// Workers square numbers from one channel and send them back on another; the sum is fixed.
func channels([]string) int {
	jobs := make(chan int)
	results := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				results <- n * n
			}
		}()
	}
	go func() {
		for n := 1; n <= 100; n++ {
			jobs <- n
		}
		close(jobs)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	sum, count := 0, 0
	for r := range results {
		sum += r
		count++
	}
	say("4 goroutines squared ", strconv.Itoa(count), " numbers; the sum is ", strconv.Itoa(sum))
	return 0
}

// A mutex-protected map filled from many goroutines, then printed in order.
func mutex([]string) int {
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				mu.Lock()
				seen[i%10] += g
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	keys := make([]int, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := []string{}
	for _, k := range keys {
		parts = append(parts, strconv.Itoa(k)+":"+strconv.Itoa(seen[k]))
	}
	say("8 goroutines, one mutex: ", strings.Join(parts, " "))
	return 0
}

// Timers: a sleep, a select between a timer and a ticker, and a deadline that passes.
func timers([]string) int {
	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	ticks := 0
	deadline := time.After(5 * time.Second) // only a guard: three ticks come long before
loop:
	for {
		select {
		case <-ticker.C:
			ticks++
			if ticks == 3 {
				break loop
			}
		case <-deadline:
			break loop
		}
	}
	say("slept, then the ticker ticked ", strconv.Itoa(ticks), " times; time moved forward: ", strconv.FormatBool(time.Since(start) >= 10*time.Millisecond))
	return 0
}

// A child process started with os.StartProcess (fork/clone + execve in the runtime).
func exec(args []string) int {
	if len(args) < 1 {
		say("usage: gofeatures exec CHILD-PROGRAM")
		return 2
	}
	r, w, err := os.Pipe()
	if err != nil {
		say("pipe: ", err.Error())
		return 1
	}
	p, err := os.StartProcess(args[0], []string{"child", "from", "go"}, &os.ProcAttr{
		Env:   []string{"GREETING=from Go"},
		Files: []*os.File{nil, w, os.Stderr},
	})
	if err != nil {
		say("start: ", err.Error())
		return 1
	}
	w.Close()
	out := make([]byte, 0, 256)
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	state, err := p.Wait()
	if err != nil {
		say("wait: ", err.Error())
		return 1
	}
	os.Stdout.Write(out)
	say("the child exited with status ", strconv.Itoa(state.ExitCode()))
	return 0
}

// A nil dereference is a SIGSEGV the runtime turns into a panic that recover catches.
type node struct{ value int }

func nilPanic([]string) (status int) {
	defer func() {
		if r := recover(); r != nil {
			msg := r.(error).Error()
			say("recovered: ", msg)
			status = 0
		}
	}()
	var n *node
	say("value: ", strconv.Itoa(n.value))
	return 3
}

// Garbage: allocations that make the collector run, with its background workers.
func garbage([]string) int {
	var keep [][]byte
	total := 0
	for i := 0; i < 2000; i++ {
		b := make([]byte, 16*1024)
		b[0] = byte(i)
		total += int(b[0])
		if i%100 == 0 {
			keep = append(keep, b)
		}
	}
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	say("allocated 2000 buffers, kept ", strconv.Itoa(len(keep)), ", checksum ", strconv.Itoa(total), ", collections ran: ", strconv.FormatBool(stats.NumGC > 0))
	return 0
}

// Files: write, read back and remove one in /tmp.
func files([]string) int {
	f, err := os.CreateTemp("", "gofeatures-")
	if err != nil {
		say("create: ", err.Error())
		return 1
	}
	defer os.Remove(f.Name())
	f.WriteString("written by Go\n")
	f.Close()
	data, err := os.ReadFile(f.Name())
	if err != nil {
		say("read: ", err.Error())
		return 1
	}
	say("read back ", strconv.Itoa(len(data)), " bytes: ", strings.TrimSpace(string(data)))
	_, err = os.Stat("/nonexistent/file")
	say("stat of a missing file: ", err.Error())
	return 0
}

var cases = map[string]func([]string) int{
	"hello":    hello,
	"channels": channels,
	"mutex":    mutex,
	"timers":   timers,
	"exec":     exec,
	"nil":      nilPanic,
	"garbage":  garbage,
	"files":    files,
}

func main() {
	if len(os.Args) < 2 || cases[os.Args[1]] == nil {
		names := make([]string, 0, len(cases))
		for name := range cases {
			names = append(names, name)
		}
		sort.Strings(names)
		say("usage: gofeatures CASE [ARGS]; cases: ", strings.Join(names, " "))
		os.Exit(2)
	}
	os.Exit(cases[os.Args[1]](os.Args[2:]))
}
