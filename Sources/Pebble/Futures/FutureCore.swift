import Dispatch
import Synchronization
import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The state of a ``Future``, without its value type: phase, outcome (the value type-erased once,
/// when it is recorded), observers, and the word a blocked waiter sleeps on.
///
/// Not generic, so that the hot path (a thread-pool task starting, completing, a caller reading a
/// finished future) never asks the runtime for generic metadata: in unspecialised generic code each
/// `Result<Value, any Error>` or `Future<Value>.State` costs a lookup in the runtime's metadata
/// cache, whose shared reader count bounces between cores. A thread-pool task *is* a core (a
/// subclass, see `ThreadTask`), so a scheduled closure costs one object besides its `Future`.
///
/// Waiting: a thread that must block sets the `sleeping` bit of `signal`, then sleeps on one of
/// ``FutureParking``'s striped condition variables; the completer sets the `done` bit with the
/// same atomic read-modify-write and wakes the stripe only if the `sleeping` bit was set. No
/// semaphore, box or closure is allocated per wait.
@usableFromInline
class FutureCore: @unchecked Sendable {
    // @unchecked Sendable: `state` is a mutex; `outcome` is written once, under `state`'s lock and
    // before `signal` gets its `done` bit (release), and read only after that bit was seen
    // (acquire) or under the lock with the phase `.done`.

    enum Phase {
        case pending
        /// Handed to a worker; the handler, when there is one, stops the task and reports whether
        /// it did. `hasStarted`, when there is one, says whether a worker took it (a process task
        /// offered on the feed waits there until one does); without one it runs from the hand-over.
        case running(stopHandler: (@Sendable () -> Bool)?, hasStarted: (@Sendable () -> Bool)?)
        case done(cancelled: Bool)

        /// Whether the task had not been handed over yet; `nil` once done.
        var wasPending: Bool? {
            switch self {
            case .pending: true
            case .running: false
            case .done: nil
            }
        }
    }

    /// What a future ended with: the value (boxed once) or the error.
    enum Outcome {
        case value(Any)
        case failure(any Error)

        var failure: (any Error)? {
            if case .failure(let error) = self { error } else { nil }
        }
    }

    typealias Observer = @Sendable () -> Void

    struct State {
        var phase: Phase = .pending
        /// Internal observers run inline on the completing thread; they never run user code.
        var observers: [Observer] = []
        /// Told of the completion under this lock, before anyone can see the future done; cleared
        /// then, which also breaks the owner ↔ future reference cycle.
        var owner: (any CompletionOwner)?
    }

    /// What a completion must do once the lock is released.
    struct Settled {
        var observers: [Observer]
        var owner: (any CompletionOwner)?
        var wasPending: Bool
        var wakeSleepers: Bool
    }

    static let doneBit: UInt8 = 1
    static let sleepingBit: UInt8 = 2
    /// Set by a pool whose task must first wait for a thread to be woken for it: a waiter then
    /// watches it for ``WaitSpin/slowStart``'s budget instead of ``WaitSpin/ready``'s.
    static let slowStartBit: UInt8 = 4

    let state = StateLock(State())
    /// `doneBit` once the outcome is recorded; `sleepingBit` once a thread may be asleep waiting.
    let signal = Atomic<UInt8>(0)
    /// See the `@unchecked Sendable` note above.
    nonisolated(unsafe) private(set) var outcome: Outcome?

    init() {}

    /// What the task used, once the future is done: only a process task's core
    /// (``ProcessFutureCore``) has it.
    var resourceUsage: ResourceUsage? { nil }

    init(completed outcome: Outcome) {
        self.outcome = outcome
        state.withLock { $0.phase = .done(cancelled: false) }
        signal.store(Self.doneBit, ordering: .releasing)
    }

    // MARK: - Hooks for a subclass (a thread-pool task)

    /// Called under the lock when the outcome is recorded, before anyone can see it: counters only.
    func recordCompletion(failure: (any Error)?, wasPending: Bool) {}
    /// Called right after, outside the lock and before sleepers and observers are woken.
    func didComplete(wasPending: Bool) {}

    // MARK: - Reading

    /// Whether the outcome is recorded (lock-free).
    @inline(__always) final var isDone: Bool {
        signal.load(ordering: .acquiring) & Self.doneBit != 0
    }

    /// ``isDone``, read in the sequentially consistent order a sleeping waiter needs (see
    /// ``FutureParking``).
    final var isDoneSequentiallyConsistent: Bool {
        signal.load(ordering: .sequentiallyConsistent) & Self.doneBit != 0
    }

    /// The outcome if done (lock-free), `nil` otherwise.
    @inline(__always) final var completedOutcome: Outcome? {
        isDone ? outcome : nil
    }

    final var isRunning: Bool {
        let probe: (@Sendable () -> Bool)?? = state.withLock { state in
            if case .running(_, let hasStarted) = state.phase { hasStarted } else { nil }
        }
        guard let probe else { return false }
        return probe?() ?? true
    }

    final var isCancelled: Bool {
        state.withLock { if case .done(cancelled: true) = $0.phase { true } else { false } }
    }

    /// Marks the task as one that waits for a thread to be woken (see ``slowStartBit``).
    final func markSlowStart() {
        signal.bitwiseOr(Self.slowStartBit, ordering: .relaxed)
    }

    /// Whether a waiter watches it for ``WaitSpin/ready``'s budget: not when it is known to start
    /// slowly (see ``slowStartBit``).
    @inline(__always) final var spinsOnWait: Bool {
        signal.load(ordering: .relaxed) & Self.slowStartBit == 0
    }

    /// Blocks until done or until `deadline`; returns whether it is done.
    final func wait(until deadline: DispatchTime) -> Bool {
        if isDone { return true }
        if (spinsOnWait ? WaitSpin.ready : WaitSpin.slowStart).spin(for: self) { return true }
        let (old, _) = signal.bitwiseOr(Self.sleepingBit, ordering: .sequentiallyConsistent)
        if old & Self.doneBit != 0 { return true }
        return FutureParking.shared.wait(for: self, until: deadline)
    }

    /// Runs `observer` inline when the future completes (at once if it has).
    final func observe(_ observer: @escaping Observer) {
        if isDone { return observer() }
        let added: Bool = state.withLock { state in
            if case .done = state.phase { return false }
            state.observers.append(observer)
            return true
        }
        if !added { observer() }
    }

    /// The outcome, awaited; cancelling the awaiting `Task` cancels the future (``cancel()``).
    /// Not generic, so that awaiting asks the runtime for no type metadata (a generic await looks
    /// `Result<Value, any Error>` up on every call), and a thread pool's `run` awaits its task
    /// without a `Future` around it.
    final func awaitedOutcome() async -> Outcome {
        if let outcome = completedOutcome { return outcome }
        return await withTaskCancellationHandler {
            await outcomeWhenDone()
        } onCancel: {
            _ = cancel()
        }
    }

    /// The outcome, awaited; cancelling the awaiting `Task` leaves the future alone.
    final func outcomeWhenDone() async -> Outcome {
        if let outcome = completedOutcome { return outcome }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            observe { [self] in continuation.resume(returning: outcome!) }
        }
    }

    // MARK: - Transitions

    /// Moves a pending future to running. Returns `false` when it was already done (cancelled):
    /// the task must then not start.
    final func markRunning(stopHandler: (@Sendable () -> Bool)? = nil, hasStarted: (@Sendable () -> Bool)? = nil) -> Bool {
        state.withLock { state in
            guard case .pending = state.phase else { return false }
            state.phase = .running(stopHandler: stopHandler, hasStarted: hasStarted)
            return true
        }
    }

    /// Moves a running future back to pending. Returns `false` when it is no longer running.
    final func markPending() -> Bool {
        state.withLock { state in
            guard case .running = state.phase else { return false }
            state.phase = .pending
            return true
        }
    }

    /// Records `outcome`; `nil` when the future was already done. Callable under a pool's lock;
    /// the caller then calls ``finish(_:)`` outside it.
    final func settle(_ outcome: Outcome, cancelled: Bool = false) -> Settled? {
        state.withLock { state in
            guard let wasPending = state.phase.wasPending else { return nil }
            return settle(
                &state, outcome, wasPending: wasPending,
                cancelled: cancelled || (outcome.failure.map { $0 is CancellationError } ?? false))
        }
    }

    /// Fails the future with ``TimeoutError`` of `timeout`, whose `wasRunning` says whether the
    /// task had started (read under the same lock as the transition); `nil` when it was done.
    final func settleTimedOut(_ timeout: Duration) -> Settled? {
        state.withLock { state in
            guard let wasPending = state.phase.wasPending else { return nil }
            return settle(
                &state, .failure(TimeoutError(timeout: timeout, wasRunning: !wasPending)),
                wasPending: wasPending, cancelled: false)
        }
    }

    /// The one transition to done, under `state`'s lock: records the outcome, counts it, marks
    /// the signal word, and hands back what ``finish(_:)`` does outside the lock.
    private func settle(_ state: inout State, _ outcome: Outcome, wasPending: Bool, cancelled: Bool) -> Settled {
        let failure = outcome.failure
        state.phase = .done(cancelled: cancelled)
        self.outcome = outcome
        let owner = state.owner
        state.owner = nil
        owner?.recordCompletion(failure: failure, wasPending: wasPending)
        recordCompletion(failure: failure, wasPending: wasPending)
        let (old, _) = signal.bitwiseOr(Self.doneBit, ordering: .sequentiallyConsistent)
        defer { state.observers = [] }
        return Settled(
            observers: state.observers, owner: owner, wasPending: wasPending,
            wakeSleepers: old & Self.sleepingBit != 0)
    }

    /// Completes the future with ``TimeoutError`` (see ``settleTimedOut(_:)``); the first
    /// completion wins. Returns whether this call completed it.
    @discardableResult
    final func completeTimedOut(_ timeout: Duration) -> Bool {
        guard let settled = settleTimedOut(timeout) else { return false }
        finish(settled)
        return true
    }

    /// The second half of a completion, outside every lock: the owner's and the subclass's
    /// `didComplete`, then sleeping waiters, then observers.
    final func finish(_ settled: Settled) {
        settled.owner?.didComplete(wasPending: settled.wasPending)
        didComplete(wasPending: settled.wasPending)
        if settled.wakeSleepers { FutureParking.shared.wake(for: self) }
        for observer in settled.observers { observer() }
    }

    /// Completes the future; the first completion wins. Returns whether this call completed it.
    @discardableResult
    final func complete(_ outcome: Outcome, cancelled: Bool = false) -> Bool {
        guard let settled = settle(outcome, cancelled: cancelled) else { return false }
        finish(settled)
        return true
    }

    enum CancelDecision {
        case refuse
        case cancelledPending(Settled)
        case stopRunning(@Sendable () -> Bool)
    }

    /// See ``Future/cancel()``.
    final func cancel() -> Bool {
        // One transition under the lock decides: pending → cancelled (the task can no longer
        // start, since starting is pending → running under the same lock), or a running task's
        // stop handler, which completes the future with CancellationError itself.
        let decision: CancelDecision = state.withLock { state in
            switch state.phase {
            case .done: return .refuse
            case .running(let stop, _): return stop.map(CancelDecision.stopRunning) ?? .refuse
            case .pending:
                return .cancelledPending(settle(&state, .failure(CancellationError()), wasPending: true, cancelled: true))
            }
        }
        switch decision {
        case .refuse: return false
        case .cancelledPending(let settled):
            finish(settled)
            return true
        case .stopRunning(let stop):
            return stop()
        }
    }

    final func setOwner(_ owner: any CompletionOwner) {
        state.withLock { $0.owner = owner }
    }

    final func clearOwner() {
        state.withLock { $0.owner = nil }
    }
}

/// Where threads blocked on a future sleep: a fixed set of futex words, picked by the future's
/// address. A waiter reads its stripe's word, checks its future's `done` bit, and sleeps only
/// while the word is unchanged; a completion whose future has a sleeper bumps the word and wakes
/// the stripe's sleepers (one system call each side, no mutex for a woken waiter to take). A
/// waiter woken for another future of the stripe checks its own `done` bit and sleeps again.
/// Nothing is allocated per wait.
final class FutureParking: @unchecked Sendable {
    // @unchecked Sendable: the words are only touched through the shim's atomic operations and
    // futex calls; they are allocated once and never move or go away.
    static let shared = FutureParking()
    private static let stripes = 64
    /// Words per stripe: one used, the rest keep stripes on separate cache lines.
    private static let spacing = 16
    private let words: UnsafeMutablePointer<UInt32>

    private init() {
        words = .allocate(capacity: Self.stripes * Self.spacing)
        words.initialize(repeating: 0, count: Self.stripes * Self.spacing)
    }

    @inline(__always) private func word(of core: FutureCore) -> UnsafeMutablePointer<UInt32> {
        let address = UInt(bitPattern: ObjectIdentifier(core).hashValue)
        return words + (Int((address >> 5) ^ (address >> 11)) & (Self.stripes - 1)) * Self.spacing
    }

    /// Sleeps until `core` is done or `deadline` passes; returns whether it is done.
    func wait(for core: FutureCore, until deadline: DispatchTime) -> Bool {
        let word = word(of: core)
        while true {
            // The word first, then the future: a completion after the look at the future bumps
            // the word, so the sleep below returns at once.
            let seen = pebble_word_load(word)
            if core.isDoneSequentiallyConsistent { return true }
            var timeout: Int64 = -1
            if deadline != .distantFuture {
                let now = DispatchTime.now().uptimeNanoseconds
                guard deadline.uptimeNanoseconds > now else { return core.isDone }
                timeout = Int64(clamping: deadline.uptimeNanoseconds - now)
            }
            _ = pebble_word_wait(word, seen, timeout)
        }
    }

    /// Wakes the threads sleeping on `core`'s stripe.
    func wake(for core: FutureCore) {
        pebble_word_bump_and_wake(word(of: core))
    }
}
