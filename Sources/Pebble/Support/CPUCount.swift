// SPDX-License-Identifier: Apache-2.0
import _PebbleShim

/// The number of CPUs this process may run on (its affinity mask), the default `maxWorkers`.
///
/// ```swift
/// let pool = try ThreadPool(maxWorkers: usableCPUCount() * 2)
/// ```
public func usableCPUCount() -> Int { Int(pebble_usable_cpu_count()) }
