//! [`EXAMPLE_JOB`]: the commented jobspec `drover job init` writes.

/// The example job `drover job init` writes to `example.drover.hcl`: a
/// service job `example` whose one task prints a line every few seconds and
/// exits cleanly on SIGTERM; runs on a fresh `drover agent -dev`.
pub const EXAMPLE_JOB: &str = r#"# There can only be a single job definition per file. This job is named
# "example" so it will create a job with the ID and Name "example".

# The "job" block is the top-most configuration option in the job
# specification. A job is a declarative specification of tasks that Drover
# should run. Jobs have a globally unique name, one or many task groups, which
# are themselves collections of one or many tasks.
job "example" {
  # The "datacenters" parameter specifies the list of datacenters which should
  # be considered when placing this task. "*" matches every datacenter.
  datacenters = ["*"]

  # The "type" parameter controls the type of job, which impacts the scheduler's
  # decision on placement: "service" (long-lived), "batch" (runs to
  # completion), "system" or "sysbatch" (one instance on every node).
  type = "service"

  # The "group" block defines a series of tasks that should be co-located on
  # the same client (host). All tasks within a group will be placed on the
  # same host.
  group "cache" {
    # The "count" parameter specifies the number of the task groups that should
    # be running under this group. This value must be non-negative and defaults
    # to 1.
    count = 1
    # count = 3

    # The "task" block creates an individual unit of work, such as a Docker
    # container, web application, or batch processing.
    task "server" {
      # The "driver" parameter specifies the task driver that should be used to
      # run the task. "raw_exec" runs a command directly on the client.
      driver = "raw_exec"

      # The "config" block specifies the driver configuration, which is passed
      # directly to the driver to start the task. The details of configurations
      # are specific to each driver. This one runs a small shell loop that
      # prints a line every few seconds (see it with "drover alloc logs") and
      # exits cleanly when the task is stopped.
      config {
        command = "/bin/sh"
        args = ["-c", <<-EOT
          trap 'echo "example: received stop signal, exiting"; kill $sleeper 2>/dev/null; exit 0' TERM INT
          echo "example: server started"
          n=0
          while true; do
            n=$((n + 1))
            echo "example: still running ($n)"
            sleep 5 &
            sleeper=$!
            wait $sleeper
          done
        EOT
        ]
      }

      # The "resources" block describes the requirements a task needs to
      # execute. Resource requirements include memory, cpu, and more.
      resources {
        cpu    = 100 # MHz
        memory = 64  # MB
      }
    }
  }
}
"#;
