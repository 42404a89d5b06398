// SPDX-License-Identifier: Apache-2.0
// A guided tour of swift-pebble. Run it with `swift run Playground`.
//
// The first half runs closures on threads, the second half runs jobs (see Jobs.swift) in worker
// processes that may hang, crash or throw without harming this program. Each step prints what it
// does and what came back.

import Dispatch
import Foundation
import Pebble

// MARK: - Printing

let tourStart = ContinuousClock.now

func section(_ title: String) {
    print("\n=== \(title) ===")
}

func step(_ title: String) {
    print("\n-- \(title)")
}

/// A duration in milliseconds, for the output.
func ms(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.2f ms", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
}

/// Runs `body` and returns what it returned and how long it took.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, ContinuousClock.now - start)
}

// MARK: - Thread half

func threadPoolBasics(_ pool: ThreadPool) throws {
    step("schedule a closure and wait for its result")
    let future = try pool.schedule { (1...1_000).reduce(0, +) }
    print("sum of 1...1000 =", try future.result())

    step("map with chunkSize: 10 inputs, 3 per task, outcomes in input order")
    let squares = try pool.map(1...10, chunkSize: 3) { n in n * n }
    print("squares:", try squares.result().values())

    step("a task that throws: the future fails with the original error")
    struct NotANumber: Error { let text: String }
    let parse = try pool.schedule { () throws -> Int in
        guard let value = Int("forty-two") else { throw NotANumber(text: "forty-two") }
        return value
    }
    do {
        _ = try parse.result()
    } catch let error as NotANumber {
        print("caught NotANumber(text: \"\(error.text)\")")
    }
}

func threadPoolAsync(_ pool: ThreadPool) async throws {
    step("async: await a closure run on the pool")
    let value = try await pool.run { (1...20).reduce(1, *) }
    print("20! =", value)
}

func threadPoolCancel() throws {
    step("cancel a pending task: it never starts")
    let pool = try ThreadPool(maxWorkers: 1)
    let gate = DispatchSemaphore(value: 0)
    let log = BlockingQueue<String>()
    let blocker = try pool.schedule {
        gate.wait() // holds the only worker until we open the gate
        log.put("blocker ran")
    }
    let victim = try pool.schedule { log.put("victim ran") }
    print("victim cancelled while pending:", victim.cancel())
    gate.signal()
    try blocker.result()
    do {
        try victim.result()
    } catch is CancellationError {
        print("victim's future: CancellationError, isCancelled =", victim.isCancelled)
    }
    pool.close()
    try pool.join()
    var ran: [String] = []
    while log.count > 0 { ran.append(try log.get()) }
    print("tasks that ran:", ran)
}

func oneShotThread() throws {
    step("Concurrent.thread: one closure on a fresh named thread")
    let future = Concurrent.thread(name: "tour-thread") { () -> String in
        "hello from \(Thread.current.name ?? "a thread")"
    }
    print(try future.result(timeout: .seconds(5)))
}

func utilities() throws {
    step("synchronized: 4 workers add 1 to a shared counter 1000 times")
    final class Counter: @unchecked Sendable { // guarded by `lock`
        let lock = NSLock()
        var value = 0
    }
    let counter = Counter()
    try withThreadPool(maxWorkers: 4) { pool in
        let adds = try pool.map(0..<1_000, chunkSize: 100) { _ in
            synchronized(counter.lock) { counter.value += 1 }
        }
        _ = try adds.result().values()
    }
    print("counter =", synchronized(counter.lock) { counter.value })
    let lock = try ProcessLock(name: "tour")
    synchronized(lock) { print("held the ProcessLock at", lock.path) }

    step("BlockingQueue + waitForQueues: wake up when any queue has an element")
    let normal = BlockingQueue<String>()
    let urgent = BlockingQueue<String>(capacity: 10)
    let producer = JoinableThread(name: "producer") {
        Thread.sleep(forTimeInterval: 0.05)
        urgent.put("restart the cache")
    }
    producer.start()
    let ready = waitForQueues([normal, urgent], timeout: .seconds(2))
    print(
        "ready queues:", ready.map { $0 === urgent ? "urgent" : "normal" },
        "-> got:", try urgent.get(timeout: .zero))

    step("JoinableThread + waitForThreads: wake up when the first thread finishes")
    let threads = [90, 30, 60].map { delay in
        JoinableThread(name: "sleep-\(delay)ms") { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
    }
    threads.forEach { $0.start() }
    let first = waitForThreads(threads, timeout: .seconds(2))
    print("first finished:", first.compactMap(\.name))
    let allJoined = threads.allSatisfy { $0.join(timeout: .seconds(2)) }
    print("joined all three:", allJoined, "producer joined:", producer.join(timeout: .seconds(2)))

    step("sighandler: a closure called on a queue when SIGUSR1 arrives")
    let received = BlockingQueue<Int32>()
    let handler = sighandler([SIGUSR1]) { signal in received.put(signal) }
    kill(getpid(), SIGUSR1)
    print("handler received signal", try received.get(timeout: .seconds(2)), "(SIGUSR1 is \(SIGUSR1))")
    handler.cancel()
}

// MARK: - Process half

func processRoundTrip(_ pool: ProcessPool) throws -> Int32 {
    step("a job round trip")
    let (worker, elapsed) = try timed { try pool.schedule(WhoAmI()).result() }
    print("this program is pid \(getpid()); the job ran in worker pid \(worker) (\(ms(elapsed)), includes starting the worker)")
    let (square, again) = try timed { try pool.schedule(Square(n: 12)).result() }
    print("Square(n: 12) =", square, "(\(ms(again)) on a warm worker)")
    return worker
}

func processTimeout(_ pool: ProcessPool, previousWorker: Int32) throws {
    step("a job that hangs: Sleep(10 s) with a 0.2 s timeout")
    let hanging = try pool.schedule(Sleep(seconds: 10), timeout: .milliseconds(200))
    let (error, elapsed) = try timed { try hanging.error() }
    print("failed after \(ms(elapsed)) with:", error.map { "\($0)" } ?? "nothing?")
    if let timeout = error as? TimeoutError { print("TimeoutError.timeout =", timeout.timeout) }
    let next = try pool.schedule(WhoAmI()).result()
    print("the next job ran on worker \(next), a replacement for \(previousWorker), which was killed")
}

func processCrash(_ pool: ProcessPool) throws {
    step("a job that calls exit(3)")
    if let expired = try pool.schedule(Exit(code: 3)).error() as? ProcessExpired {
        print(
            "ProcessExpired: pid \(expired.pid), exitCode \(expired.exitCode.map(String.init) ?? "nil"), signal \(expired.signal.map(String.init) ?? "nil")"
        )
    }

    step("a job killed by a signal (SIGKILL)")
    if let expired = try pool.schedule(KillSelf(signal: SIGKILL)).error() as? ProcessExpired {
        print(
            "ProcessExpired: pid \(expired.pid), exitCode \(expired.exitCode.map(String.init) ?? "nil"), signal \(expired.signal.map(String.init) ?? "nil")"
        )
    }
    print("the pool goes on:", try pool.schedule(Square(n: 5)).result(), "from worker", try pool.schedule(WhoAmI()).result())
}

func processErrors(_ pool: ProcessPool) throws {
    step("a Codable error comes back as itself")
    print("valid name:", try pool.schedule(ValidateUser(name: "Ada")).result())
    do {
        _ = try pool.schedule(ValidateUser(name: "")).result()
    } catch let error as ValidationError {
        print("caught", error, "- field:", error.field)
    }

    step("any other error comes back as a RemoteError")
    if let remote = try pool.schedule(WriteReport()).error() as? RemoteError {
        print("RemoteError: typeName \(remote.typeName), message \(remote.message), pid \(remote.pid)")
    }
}

func processCancel(_ pool: ProcessPool) throws {
    step("cancel a running job: its worker is stopped and replaced")
    let job = try pool.schedule(Sleep(seconds: 10))
    let deadline = ContinuousClock.now + .seconds(5)
    while !job.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
    let (cancelled, elapsed) = timed { job.cancel() }
    print("cancel() while running returned \(cancelled) after \(ms(elapsed)); isCancelled =", job.isCancelled)
    do {
        _ = try job.result()
    } catch is CancellationError {
        print("the future failed with CancellationError")
    }
    print("next job:", try pool.schedule(Square(n: 9)).result())
}

func processMap(_ pool: ProcessPool) throws {
    step("map ParsePort over 6 inputs, 2 per chunk; one input is bad")
    let inputs = ["80", "443", "http", "8080", "22", "5432"]
    let ports = try pool.map(ParsePort(), inputs, chunkSize: 2, timeout: .seconds(5))
    for (input, outcome) in zip(inputs, try ports.result()) {
        switch outcome {
        case .success(let port): print("  \(input) -> \(port)")
        case .failure(let error): print("  \(input) -> failed: \(error)")
        }
    }
}

func processAsync(_ pool: ProcessPool) async throws {
    step("async: await a job")
    let value = try await pool.run(Square(n: 7), timeout: .seconds(5))
    print("Square(n: 7) =", value)
}

func oneShotProcess() throws {
    step("Concurrent.process: one job in a fresh process of its own")
    let future = try Concurrent.process(WhoAmI(), timeout: .seconds(5), name: "tour-oneshot")
    print("ran in a one-off process, pid", try future.result())
}

// MARK: - Commands

func commands() async throws {
    step("Command: run a program, collect its output and status")
    let echo = try await Command("echo", arguments: ["hello from", "echo"]).run()
    print("echo \(echo.status): \(echo.outputText)", terminator: "")

    step("Command with a timeout: sh -c starts a grandchild in a session of its own (setsid), which")
    print("   a group kill would miss; the timeout kills the whole tree anyway")
    let file = "/tmp/pebble-tour-grandchild-\(getpid())"
    defer { unlink(file) }
    let script = "setsid sh -c 'echo $$ > \(file); exec sleep 60' & wait"
    let (outcome, took) = await timedAsync {
        do { return "\(try await Command("/bin/sh", arguments: ["-c", script]).run(timeout: .milliseconds(300)))" } catch {
            return "\(error)"
        }
    }
    print("after \(ms(took)):", outcome)
    let grandchild =
        pid_t(((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    let gone = kill(grandchild, 0) != 0 && errno == ESRCH
    print("grandchild \(grandchild) is", gone ? "gone" : "STILL RUNNING")
}

/// Runs `body` and returns what it returned and how long it took.
func timedAsync<T>(_ body: () async -> T) async -> (T, Duration) {
    let start = ContinuousClock.now
    let value = await body()
    return (value, ContinuousClock.now - start)
}

// MARK: - The tour

// `join` blocks, so it is unavailable in async code such as this top level (it awaits below);
// these synchronous helpers close a pool and wait for it.
func closeAndJoin(_ pool: ThreadPool) throws {
    pool.close()
    try pool.join(timeout: .seconds(10))
}

func closeAndJoin(_ pool: ProcessPool) throws {
    pool.close()
    try pool.join(timeout: .seconds(10))
}

section("Thread half: ThreadPool, Concurrent.thread and utilities")
let threads = try ThreadPool(maxWorkers: 2)
try threadPoolBasics(threads)
try await threadPoolAsync(threads)
try closeAndJoin(threads)
print("\nthread pool closed and joined")
try threadPoolCancel()
try oneShotThread()
try utilities()

section("Process half: ProcessPool and Concurrent.process")
print("one worker, so that you can watch it being replaced; a server would keep the default (the CPU count)")
let processes = try ProcessPool(maxWorkers: 1)
let firstWorker = try processRoundTrip(processes)
try processTimeout(processes, previousWorker: firstWorker)
try processCrash(processes)
try processErrors(processes)
try processCancel(processes)
try processMap(processes)
try await processAsync(processes)
try closeAndJoin(processes)
print("\nprocess pool closed and joined")
try oneShotProcess()

section("Server: back-pressure, deadlines, live statistics, graceful shutdown")
try await serverChapter()

section("Commands: external programs whose whole tree dies on timeout")
try await commands()

section("Done")
print("every pool is closed and joined; the tour took \(ms(ContinuousClock.now - tourStart))")
