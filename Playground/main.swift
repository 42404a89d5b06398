import Pebble
import Foundation

struct Square: ProcessJob { let n: Int; func run() async throws -> Int { n * n } }
struct Crash: ProcessJob { func run() async throws -> Int { exit(3) } }
struct Sleep: ProcessJob { let s: Double; func run() async throws -> Int { usleep(UInt32(s * 1e6)); return 1 } }
struct Fail: Error, Codable { let why: String }
struct Thrower: ProcessJob { func run() async throws -> Int { throw Fail(why: "boom") } }

let pool = try ProcessPool(maxWorkers: 2)
let t0 = ContinuousClock.now
print(try pool.schedule(Square(n: 12)).result(), ContinuousClock.now - t0)
for _ in 0..<3 { let t = ContinuousClock.now; _ = try pool.schedule(Square(n: 3)).result(); print(ContinuousClock.now - t) }
print(try pool.schedule(Crash()).error()!)
print(try pool.schedule(Thrower()).error()!)
let t1 = ContinuousClock.now
print(try pool.schedule(Sleep(s: 5), timeout: .milliseconds(100)).error()!, ContinuousClock.now - t1)
print(try pool.schedule(Square(n: 5)).result())
let f = try pool.schedule(Sleep(s: 5))
usleep(100000)
print("cancel", f.cancel(), f.isCancelled)
print(try pool.schedule(Square(n: 6)).result())
pool.close()
try pool.join()
print("joined")
