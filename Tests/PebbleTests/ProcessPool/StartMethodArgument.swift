// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Parameterized process tests show their start method as `zygote` or `spawn` in the test output.
extension ProcessPool.StartMethod: CustomTestStringConvertible {
    public var testDescription: String { label }
}
