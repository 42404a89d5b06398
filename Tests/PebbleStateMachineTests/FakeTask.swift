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

/// An action of the machine, reduced to what a test compares.
enum Decision: Equatable {
    case send(pid_t, task: Int)
    case spawn(after: Duration?)
    case retire(pid_t)
    case kill(pid_t)
    case disarm(pid_t)
    case fail([Int], String)

    init(_ action: ProcessPoolStateMachine.Action) {
        switch action {
        case .send(let pid, let running): self = .send(pid, task: (running.task as! FakeTask).id)
        case .spawn(let after): self = .spawn(after: after)
        case .retire(let pid): self = .retire(pid)
        case .kill(let pid): self = .kill(pid)
        case .disarm(let pid): self = .disarm(pid)
        case .fail(let tasks, let error): self = .fail(tasks.map { ($0 as! FakeTask).id }, "\(type(of: error))")
        }
    }
}

extension Array where Element == ProcessPoolStateMachine.Action {
    var decisions: [Decision] { map(Decision.init) }
    /// The decisions without timer bookkeeping.
    var essential: [Decision] { decisions.filter { if case .disarm = $0 { false } else { true } } }
}

func death(_ pid: pid_t) -> ProcessExpired { ProcessExpired(pid: pid, exitCode: nil, signal: 9) }

/// The code of the `PebbleError` that `body` throws; `nil` when it throws nothing.
func refusal(_ body: () throws -> Void) -> PebbleError.Code? {
    do { try body() } catch { return (error as? PebbleError)?.code }
    return nil
}
