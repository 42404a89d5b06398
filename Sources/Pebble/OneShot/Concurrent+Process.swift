// SPDX-License-Identifier: Apache-2.0
extension Concurrent {
    /// Runs `job` in a fresh worker process of its own and returns its future.
    ///
    /// The process exits when the job is done; with `timeout` it is killed (with its process group)
    /// when the job runs longer, and the future fails with ``TimeoutError``. `cancel()` kills it too.
    ///
    /// - Parameters:
    ///   - job: the job to run; its type must be `internal` or `public` at namespace scope.
    ///   - timeout: counted from when the process starts the job.
    ///   - name: the process name (Linux keeps 15 bytes), as `ps` and `top` show it.
    ///   - startMethod: how the process starts (see ``ProcessPool/StartMethod``): forked from the
    ///     zygote (the default), or `.spawn` to start it from the program's current environment.
    /// - Throws: `.jobNotResolvable` for a job type a worker cannot find, `.invalidArgument` for a
    ///   negative timeout.
    ///
    /// ```swift
    /// let future = try Concurrent.process(Parse(text: input), timeout: .seconds(2), name: "parser")
    /// print(try future.result())
    ///
    /// setenv("API_TOKEN", token, 1)
    /// let fresh = try Concurrent.process(Upload(path: path), startMethod: .spawn)   // sees API_TOKEN
    /// ```
    public static func process<J: ProcessJob>(
        _ job: J, timeout: Duration? = nil,
        name: String? = nil,
        startMethod: ProcessPool.StartMethod = .zygote
    ) throws -> Future<J.Output> {
        let pool = try ProcessPool(maxWorkers: 1, maxTasks: 1, workerName: name, startMethod: startMethod)
        defer { pool.close() }
        return try pool.schedule(job, timeout: timeout)
    }
}
