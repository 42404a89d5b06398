// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// Splits `inputs` into arrays of at most `size` elements.
func chunked<S: Sequence>(_ inputs: S, size: Int) -> [[S.Element]] {
    var chunks: [[S.Element]] = []
    var current: [S.Element] = []
    current.reserveCapacity(size)
    for input in inputs {
        current.append(input)
        if current.count == size {
            chunks.append(current)
            current = []
            current.reserveCapacity(size)
        }
    }
    if !current.isEmpty { chunks.append(current) }
    return chunks
}
