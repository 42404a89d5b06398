// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Synchronization

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

    let state = StateLock(State())
    /// `doneBit` once the outcome is recorded; `sleepingBit` once a thread may be asleep waiting.
    let signal = Atomic<UInt8>(0)
    /// See the `@unchecked Sendable` note above.
    nonisolated(unsafe) private(set) var outcome: Outcome?

    init() {}

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

    /// Blocks until done or until `deadline`; returns whether it is done.
    final func wait(until deadline: DispatchTime) -> Bool {
        if isDone { return true }
        if Self.waitSpinNanoseconds > 0 && spinUntilDone() { return true }
        let (old, _) = signal.bitwiseOr(Self.sleepingBit, ordering: .sequentiallyConsistent)
        if old & Self.doneBit != 0 { return true }
        return FutureParking.shared.wait(for: self, until: deadline)
    }

    /// How long a blocking wait first watches the future before it sleeps: a task that is about to
    /// finish (a quick closure on an awake worker takes a microsecond or two) then costs its caller
    /// no sleep and no wake-up (a futex round trip and a context switch each way). Short enough
    /// that a caller waiting on a long task wastes next to nothing.
    static let waitSpinNanoseconds: UInt64 = 4_000

    /// Watches the done bit for up to ``waitSpinNanoseconds``; returns whether it got set.
    private final func spinUntilDone() -> Bool {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var now = start
        while true {
            for _ in 0..<32 where isDone { return true }
            clock_gettime(CLOCK_MONOTONIC, &now)
            let elapsed = (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec)
            if elapsed >= Int(Self.waitSpinNanoseconds) { return isDone }
        }
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
            let wasPending: Bool
            switch state.phase {
            case .done: return nil
            case .pending: wasPending = true
            case .running: wasPending = false
            }
            let failure = outcome.failure
            state.phase = .done(cancelled: cancelled || (failure.map { $0 is CancellationError } ?? false))
            self.outcome = outcome
            let owner = state.owner
            state.owner = nil
            owner?.recordCompletion(failure: failure, wasPending: wasPending)
            recordCompletion(failure: failure, wasPending: wasPending)
            let (old, _) = signal.bitwiseOr(Self.doneBit, ordering: .sequentiallyConsistent)
            defer { state.observers = [] }
            return Settled(observers: state.observers, owner: owner, wasPending: wasPending,
                           wakeSleepers: old & Self.sleepingBit != 0)
        }
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
                state.phase = .done(cancelled: true)
                self.outcome = .failure(CancellationError())
                let owner = state.owner
                state.owner = nil
                owner?.recordCompletion(failure: CancellationError(), wasPending: true)
                recordCompletion(failure: CancellationError(), wasPending: true)
                let (old, _) = signal.bitwiseOr(Self.doneBit, ordering: .sequentiallyConsistent)
                defer { state.observers = [] }
                return .cancelledPending(Settled(observers: state.observers, owner: owner, wasPending: true,
                                                 wakeSleepers: old & Self.sleepingBit != 0))
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

/// Where threads blocked on a future sleep: a fixed set of mutex + condition variable pairs
/// (on the monotonic clock), picked by the future's address. A completion whose future has a
/// sleeper broadcasts its stripe; a waiter woken for another future of the stripe checks its own
/// `done` bit and sleeps again. Nothing is allocated per wait.
final class FutureParking: @unchecked Sendable {
    // @unchecked Sendable: the pthread objects are only used through pthread calls, which are
    // thread-safe; they are allocated once and never move or go away.
    static let shared = FutureParking()
    private static let stripes = 64
    private let mutexes: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>

    private init() {
        mutexes = .allocate(capacity: Self.stripes)
        conditions = .allocate(capacity: Self.stripes)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        for index in 0..<Self.stripes {
            pthread_mutex_init(mutexes + index, nil)
            pthread_cond_init(conditions + index, &attributes)
        }
        pthread_condattr_destroy(&attributes)
    }

    @inline(__always) private func stripe(of core: FutureCore) -> Int {
        let address = UInt(bitPattern: ObjectIdentifier(core).hashValue)
        return Int((address >> 5) ^ (address >> 11)) & (Self.stripes - 1)
    }

    /// Sleeps until `core` is done or `deadline` passes; returns whether it is done.
    func wait(for core: FutureCore, until deadline: DispatchTime) -> Bool {
        let index = stripe(of: core)
        let limit = deadline == .distantFuture ? nil : MonotonicDeadline(deadline)
        pthread_mutex_lock(mutexes + index)
        defer { pthread_mutex_unlock(mutexes + index) }
        while !core.isDone {
            if let limit {
                var time = limit.value
                if pthread_cond_timedwait(conditions + index, mutexes + index, &time) == ETIMEDOUT {
                    return core.isDone
                }
            } else {
                pthread_cond_wait(conditions + index, mutexes + index)
            }
        }
        return true
    }

    /// Wakes the threads sleeping on `core`'s stripe.
    func wake(for core: FutureCore) {
        let index = stripe(of: core)
        pthread_mutex_lock(mutexes + index)
        pthread_cond_broadcast(conditions + index)
        pthread_mutex_unlock(mutexes + index)
    }
}

/// A `DispatchTime` as an absolute `CLOCK_MONOTONIC` time, for `pthread_cond_timedwait` on a
/// condition variable set to that clock.
struct MonotonicDeadline {
    let value: timespec

    init(_ deadline: DispatchTime) {
        let now = DispatchTime.now().uptimeNanoseconds
        let remaining = deadline.uptimeNanoseconds > now ? deadline.uptimeNanoseconds - now : 0
        self.init(after: remaining)
    }

    init(after nanoseconds: UInt64) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // Capped at about 30 years, so that the sum cannot overflow.
        let bounded = min(nanoseconds, 1_000_000_000 * 1_000_000_000)
        let total = UInt64(now.tv_nsec) + bounded % 1_000_000_000
        value = timespec(tv_sec: now.tv_sec + Int(bounded / 1_000_000_000) + Int(total / 1_000_000_000),
                                  tv_nsec: Int(total % 1_000_000_000))
    }
}
