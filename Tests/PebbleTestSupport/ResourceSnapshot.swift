// SPDX-License-Identifier: Apache-2.0
import Foundation

@testable import Pebble

/// What this process holds: open descriptors, child processes (without the zygote), threads.
struct ResourceSnapshot: CustomStringConvertible {
    let descriptors: Int
    let children: [pid_t]
    let threads: Int

    static func take() -> ResourceSnapshot {
        let descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
        let zygote = Zygote.shared.pid
        let children = childProcesses().filter { $0 != zygote }
        return ResourceSnapshot(descriptors: descriptors, children: children, threads: threadCount())
    }

    /// Every child of this process, zombies included, from /proc/self/task/*/children.
    static func childProcesses() -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.flatMap { task -> [pid_t] in
            let text = (try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    /// The children of the zygote: the workers it forked.
    static func zygoteWorkers() -> [pid_t] {
        guard let zygote = Zygote.shared.pid,
            let text = try? String(contentsOfFile: "/proc/\(zygote)/task/\(zygote)/children", encoding: .utf8)
        else { return [] }
        return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func threadCount() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? ""
        return Int(line.split(separator: "\t").last ?? "") ?? -1
    }

    static func residentKilobytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func descriptorTargets() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).sorted().map { fd in
            "\(fd) → " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "?")
        }
    }

    var description: String { "fds \(descriptors), children \(children), threads \(threads)" }
}
