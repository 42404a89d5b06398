// SPDX-License-Identifier: Apache-2.0

/// Hands each event to every open `AsyncStream` of it. Each stream buffers the newest
/// `bufferSize` events, so a stream nobody reads never grows without bound and never slows the
/// sender; with no stream open, sending costs one uncontended lock.
final class EventBroadcaster<Event: Sendable>: Sendable {
    private let sinks = StateLock<(next: Int, open: [Int: AsyncStream<Event>.Continuation])>((0, [:]))
    let bufferSize: Int

    init(bufferSize: Int = 1024) {
        self.bufferSize = bufferSize
    }

    /// A new stream of the events sent from now on.
    func stream() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let id = sinks.withLock { sinks in
            sinks.next += 1
            sinks.open[sinks.next] = continuation
            return sinks.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.sinks.withLock { $0.open.removeValue(forKey: id) }
        }
        return stream
    }

    func send(_ event: Event) {
        let open = sinks.withLock { $0.open.isEmpty ? [] : Array($0.open.values) }
        for continuation in open { continuation.yield(event) }
    }

    /// Ends every stream (when the pool is gone).
    func finish() {
        let open = sinks.withLock { sinks in
            defer { sinks.open = [:] }
            return Array(sinks.open.values)
        }
        for continuation in open { continuation.finish() }
    }
}
