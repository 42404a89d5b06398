// SPDX-License-Identifier: Apache-2.0

/// The watch on a pidfd: readable once its process exited (and, on Linux 6.9 and later, hung up
/// once another process reaped it; the handler treats both alike).
struct ExitSource: Sendable {
    let source: EventRegistration
}
