//! A small multi-call Rust program for the acceptance tests: `rustfeatures CASE [ARGS]`.
//!
//! `threads` spawns threads and joins them (clone with the thread flags, futexes);
//! `command` runs another static program with `Command::output()` (std's posix_spawn or
//! fork + execve, pipes for its output, wait4); `channel` sends values between threads.
//! Output is deterministic.

use std::process::{exit, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

fn threads() -> i32 {
    let total = Arc::new(Mutex::new(0u64));
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (1..=4u64)
        .map(|n| {
            let total = Arc::clone(&total);
            let started = Arc::clone(&started);
            thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                for _ in 0..10_000 {
                    *total.lock().unwrap() += n;
                }
                n * 100
            })
        })
        .collect();
    let joined: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("4 threads joined with {:?}; the shared total is {}", joined, *total.lock().unwrap());
    println!("every thread ran: {}", started.load(Ordering::SeqCst) == 4);
    0
}

fn channel() -> i32 {
    let (tx, rx) = mpsc::channel();
    let producer = thread::spawn(move || {
        for i in 0..5 {
            tx.send(i * i).unwrap();
        }
    });
    let received: Vec<i32> = rx.iter().collect();
    producer.join().unwrap();
    println!("received over a channel: {:?}", received);
    0
}

fn command(child: &str) -> i32 {
    match Command::new(child).args(["from", "rust"]).env_clear().env("GREETING", "from Rust").output() {
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            println!("the child exited with {:?}; stderr had {} bytes", out.status.code(), out.stderr.len());
            0
        }
        Err(e) => {
            println!("Command::output: {}", e);
            1
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let status = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("threads"), _) => threads(),
        (Some("channel"), _) => channel(),
        (Some("command"), Some(child)) => command(child),
        _ => {
            println!("usage: rustfeatures threads | channel | command CHILD-PROGRAM");
            2
        }
    };
    exit(status);
}
