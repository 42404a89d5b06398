// SPDX-License-Identifier: Apache-2.0
/// Splits `inputs` into arrays of at most `size` elements.
///
/// Inlinable so that `ProcessPool.map` specialises it for the caller's sequence (a range of
/// integers is then a plain loop, an array a block copy per chunk) instead of paying an
/// unspecialised iterator call and value-witness copy per element.
@inlinable
func chunked<S: Sequence>(_ inputs: S, size: Int) -> [[S.Element]] {
    if let chunks = inputs.withContiguousStorageIfAvailable({ buffer in
        stride(from: 0, to: buffer.count, by: size).map { start in
            Array(buffer[start..<min(start + size, buffer.count)])
        }
    }) {
        return chunks
    }
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
