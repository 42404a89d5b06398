// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import Pebble

/// A task for the state machine alone: no future, no process; it records what happened to it.
final class FakeTask: AnyProcessTask, @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread; nothing here is shared.
    enum Phase: Equatable { case pending, running(pid_t), done(String) }

    let id: Int
    let timeout: Duration?
    var phase = Phase.pending
    var request: [UInt8] { [] }

    init(_ id: Int, timeout: Duration? = nil) {
        self.id = id
        self.timeout = timeout
    }

    func start(on pid: pid_t) -> Bool {
        guard phase == .pending else { return false }
        phase = .running(pid)
        return true
    }

    func requeue() -> Bool {
        guard case .running = phase else { return false }
        phase = .pending
        return true
    }

    var isDone: Bool { if case .done = phase { true } else { false } }

    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>) { phase = .done("value") }
    func fail(_ error: any Error) { if !isDone { phase = .done("\(type(of: error))") } }
    func settle(_ error: any Error) -> (@Sendable () -> Void)? {
        guard !isDone else { return nil }
        fail(error)
        return {}
    }

    /// What the user did: cancel it while pending.
    func cancel() { if phase == .pending { phase = .done("CancellationError") } }
}

/// A worker's claim board without a worker: the test says how far the worker got.
final class FakeClaims: TaskClaims, @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread; nothing here is shared.
    let slots = 512
    /// The worker took every task sent to it up to this sequence number that was not revoked.
    var started: UInt64 = 0
    private(set) var revoked: Set<UInt64> = []

    func offer(slot: Int, sequence: UInt64) {}

    func revoke(slot: Int, sequence: UInt64) -> Bool {
        guard sequence > started else { return false }
        revoked.insert(sequence)
        return true
    }

    func isTaken(slot: Int, sequence: UInt64) -> Bool { sequence <= started && !revoked.contains(sequence) }
}

extension ProcessPoolStateMachine {
    /// Registers a spawned worker with a fresh ``FakeClaims``.
    mutating func workerSpawned(_ pid: pid_t) -> Bool { workerSpawned(pid, claims: FakeClaims()) }

    /// The worker's fake claim board.
    func claims(_ pid: pid_t) -> FakeClaims { workers[pid]!.claims as! FakeClaims }

    /// Worker `pid` exited after taking its first `startedJobs` tasks.
    mutating func workerExited(_ pid: pid_t, startedJobs: UInt64, death: ProcessExpired) -> (reason: WorkerExitReason, actions: [Action]) {
        (workers[pid]?.claims as? FakeClaims)?.started = startedJobs
        return workerExited(pid, death: death)
    }
}

/// An action of the machine, reduced to what a test compares (a send of several tasks is one
/// decision per task).
enum Decision: Equatable {
    case send(pid_t, task: Int)
    case arm(pid_t, task: Int)
    case spawn(after: Duration?)
    case retire(pid_t)
    case kill(pid_t)
    case disarm(pid_t)
    case fail([Int], String)

    static func of(_ action: ProcessPoolStateMachine.Action) -> [Decision] {
        switch action {
        case .send(let pid, let tasks): tasks.map { .send(pid, task: ($0.task as! FakeTask).id) }
        case .arm(let pid, let sent): [.arm(pid, task: (sent.task as! FakeTask).id)]
        case .spawn(let after): [.spawn(after: after)]
        case .retire(let pid): [.retire(pid)]
        case .kill(let pid): [.kill(pid)]
        case .disarm(let pid): [.disarm(pid)]
        case .fail(let tasks, let error): [.fail(tasks.map { ($0 as! FakeTask).id }, "\(type(of: error))")]
        }
    }

    var isTimer: Bool {
        switch self {
        case .arm, .disarm: true
        default: false
        }
    }
}

extension Array where Element == ProcessPoolStateMachine.Action {
    var decisions: [Decision] { flatMap(Decision.of) }
    /// The decisions without timer bookkeeping.
    var essential: [Decision] { decisions.filter { !$0.isTimer } }
}

extension ProcessPoolStateMachine.Withdrawal {
    /// The decisions when the worker is being stopped; `nil` for another withdrawal.
    var stopping: [Decision]? { if case .stopping(let actions) = self { actions.decisions } else { nil } }
    /// The decisions when the task was revoked; `nil` for another withdrawal.
    var revoked: [Decision]? { if case .revoked(let actions) = self { actions.decisions } else { nil } }
}

func death(_ pid: pid_t) -> ProcessExpired { ProcessExpired(pid: pid, exitCode: nil, signal: 9) }

/// The code of the `PebbleError` that `body` throws; `nil` when it throws nothing.
func refusal(_ body: () throws -> Void) -> PebbleError.Code? {
    do { try body() } catch { return (error as? PebbleError)?.code }
    return nil
}
