@testable import Pebble

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A task for the state machine alone: no future, no process; it records what happened to it.
final class FakeTask: AnyProcessTask, @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread; nothing here is shared.
    enum Phase: Equatable { case pending, offered, done(String) }

    let id: Int
    let timeout: Duration?
    var scheduledAt: UInt64 = 0
    var phase = Phase.pending
    var request: ScatteredBytes { ScatteredBytes([]) }
    /// The current offering, for `isRunning`.
    private var offering: (slot: Int, sequence: UInt64, board: any TaskBoard)?

    init(_ id: Int, timeout: Duration? = nil) {
        self.id = id
        self.timeout = timeout
    }

    func offer(slot: Int, sequence: UInt64, on board: any TaskBoard) -> Bool {
        guard phase == .pending else { return false }
        phase = .offered
        offering = (slot, sequence, board)
        return true
    }

    func requeue() -> Bool {
        guard phase == .offered else { return false }
        phase = .pending
        return true
    }

    /// What `Future.isRunning` says: offered and taken by a worker, not done.
    var isRunning: Bool {
        guard phase == .offered, let offering else { return false }
        switch offering.board.state(slot: offering.slot, sequence: offering.sequence) {
        case .offered, .revoked: return false
        case .taken, .done, .stopping, .moved: return true
        }
    }

    var isDone: Bool { if case .done = phase { true } else { false } }

    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>, usage: ResourceUsage?) { if !isDone { phase = .done("value") } }
    func fail(_ error: any Error) { if !isDone { phase = .done("\(type(of: error))") } }
    func settle(_ error: any Error) -> (@Sendable () -> Void)? {
        guard !isDone else { return nil }
        fail(error)
        return {}
    }

    /// What the user did: cancel it while queued.
    func cancel() { if phase == .pending { phase = .done("CancellationError") } }
}

/// The pool's task board without shared memory: the same compare-and-swap rules, and the
/// worker's side of them for the tests.
final class FakeBoard: TaskBoard, @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread; nothing here is shared.
    private var words: [Int: (sequence: UInt64, state: ClaimState)] = [:]
    private var takes: [Int: UInt64] = [:]
    /// What a take writes as its time (``takenAt(slot:)``).
    var nanoseconds: UInt64 = 0

    func takenAt(slot: Int) -> UInt64 { takes[slot] ?? 0 }

    func offer(slot: Int, sequence: UInt64) { words[slot] = (sequence, .offered) }

    private func exchange(_ slot: Int, _ sequence: UInt64, from: ClaimState, to: ClaimState) -> Bool {
        guard let word = words[slot], word.sequence == sequence, word.state == from else { return false }
        words[slot] = (sequence, to)
        return true
    }

    func revoke(slot: Int, sequence: UInt64) -> Bool { exchange(slot, sequence, from: .offered, to: .revoked) }

    func stop(slot: Int, sequence: UInt64, worker: Int) -> Bool {
        exchange(slot, sequence, from: .taken(worker: worker), to: .stopping(worker: worker))
    }

    func state(slot: Int, sequence: UInt64) -> ClaimState {
        guard let word = words[slot], word.sequence == sequence else { return .moved }
        return word.state
    }

    /// A job's wild write over offering `sequence`'s word.
    func scribble(slot: Int, sequence: UInt64, _ state: ClaimState) { words[slot] = (sequence, state) }

    // The worker's side.
    func take(slot: Int, sequence: UInt64, worker: Int) -> Bool {
        guard exchange(slot, sequence, from: .offered, to: .taken(worker: worker)) else { return false }
        takes[slot] = nanoseconds
        return true
    }

    func finish(slot: Int, sequence: UInt64, worker: Int) -> Bool {
        exchange(slot, sequence, from: .taken(worker: worker), to: .done(worker: worker))
    }
}

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread; nothing here is shared.
    var now = ContinuousClock.now
    /// The latency clock (``ProcessPoolStateMachine/Settings/nanoseconds``), moved by hand too.
    var nanoseconds: UInt64 = 1_000_000_000
    func advance(by duration: Duration) { now += duration }
}

/// An action of the machine, reduced to what a test compares (an offer of several tasks is one
/// decision per task).
enum Decision: Equatable {
    case offer(task: Int)
    case armTimeout(task: Int)
    case sendRequest(task: Int, worker: pid_t)
    case disarm
    case checkTakes
    case checkIdle
    case spawn(after: Duration?)
    case retire(pid_t)
    case kill(pid_t)
    case fail([Int], String)
    case settle(Int, String)
    case wake([UInt64])
    case refuse([UInt64])

    static func of(_ action: ProcessPoolStateMachine.Action) -> [Decision] {
        switch action {
        case .offer(let offers): offers.map { .offer(task: ($0.task as! FakeTask).id) }
        case .armTimeout(let offer): [.armTimeout(task: (offer.task as! FakeTask).id)]
        case .sendRequest(let offer, let pid): [.sendRequest(task: (offer.task as! FakeTask).id, worker: pid)]
        case .disarm: [.disarm]
        case .checkTakes: [.checkTakes]
        case .checkIdle: [.checkIdle]
        case .spawn(let after): [.spawn(after: after)]
        case .retire(let pid): [.retire(pid)]
        case .kill(let pid): [.kill(pid)]
        case .fail(let tasks, let error): tasks.isEmpty ? [] : [.fail(tasks.map { ($0 as! FakeTask).id }, "\(type(of: error))")]
        case .settle(let task, let error): [.settle((task as! FakeTask).id, "\(type(of: error))")]
        case .wakeRoomWaiters(let ids): [.wake(ids)]
        case .refuseRoomWaiters(let ids): [.refuse(ids)]
        }
    }

    var isBookkeeping: Bool {
        switch self {
        case .armTimeout, .disarm, .checkTakes, .checkIdle: true
        default: false
        }
    }
}

extension Array where Element == ProcessPoolStateMachine.Action {
    var decisions: [Decision] { flatMap(Decision.of) }
    /// The decisions without timer bookkeeping.
    var essential: [Decision] { decisions.filter { !$0.isBookkeeping } }
}

func death(_ pid: pid_t) -> ProcessExpired { ProcessExpired(pid: pid, exitCode: nil, signal: 9) }

/// The code of the `PebbleError` that `body` throws; `nil` when it throws nothing.
func refusal(_ body: () throws -> Void) -> PebbleError.Code? {
    do { try body() } catch { return (error as? PebbleError)?.code }
    return nil
}
