// SPDX-License-Identifier: Apache-2.0
/// A job on its way to a worker: the encoded request, and how to complete its future from the reply.
protocol AnyProcessTask: AnyObject, Sendable {
    var request: [UInt8] { get }
    var timeout: Duration? { get }
    /// Marks the task running; `false` when it was cancelled while pending and must not be sent.
    func start(stopHandler: @escaping @Sendable () -> Bool) -> Bool
    /// Back to pending after its worker died before starting it; `false` if it was cancelled meanwhile.
    func requeue() -> Bool
    /// Completes the future from a reply frame.
    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>)
    func fail(_ error: any Error)
    /// Records `error` as the outcome without notifying anyone yet (callable under the pool's
    /// lock); returns what notifies the observers, or `nil` when the future was already done.
    func settle(_ error: any Error) -> (@Sendable () -> Void)?
}
