// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
