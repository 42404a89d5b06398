// SPDX-License-Identifier: Apache-2.0

/// A ``ResourceUsage`` in a box, so that a future carries one word for it (most carry none).
final class ResourceUsageBox: Sendable {
    let usage: ResourceUsage

    init(_ usage: ResourceUsage) {
        self.usage = usage
    }
}
