//! Command line of `drover-bench`: a scenario name and Nomad-style single
//! dash options (`-n 1000`, `-n=1000`, `--n 1000` all work).

use std::path::PathBuf;

use anyhow::{Context, bail};

/// The usage text.
pub(crate) const HELP: &str = "\
Usage: drover-bench <scenario> [options]

Scenarios:
  dispatch_accept   concurrent dispatches of a parameterized job; durable acknowledged dispatches/s
  placement         M allocations onto N simulated nodes (N = 1,000 / 5,000 / 10,000); placements/s
  dispatch_latency  dispatch -> raw_exec task running (stamped by the task) on a -dev agent; p50/p90/p99
  e2e_throughput    N tiny real processes dispatched, run and recorded complete; vs fork/exec/wait of /bin/true
  memory            server RSS, data dir size and restart time with N finished dispatched jobs
  backlog           N dispatches waiting for capacity: RSS, API p99 while waiting, drain rate once nodes join
  cli_dispatch      a shell loop of `drover job dispatch -detach`, with no children and then with N; per s and ratio
  all               every scenario (with -quick: small sizes, about two minutes)

Options:
  -n N              work size (dispatches, allocations) of the scenario
  -nodes N[,N...]   simulated nodes (placement takes a list)
  -concurrency N    concurrent HTTP clients
  -address URL      use a running server instead of starting one (dispatch_accept, dispatch_latency)
  -quick            small sizes
  -schedulers N     scheduler workers of the servers the bench starts (server.num_schedulers)
  -drover PATH      the drover binary (default: $DROVER_BIN, or next to drover-bench)";

/// Parsed options; `None` means the scenario's default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The scenario (`all` runs every one).
    pub scenario: String,
    /// `-n`: work size.
    pub n: Option<u64>,
    /// `-nodes`: node counts.
    pub nodes: Vec<u64>,
    /// `-concurrency`: concurrent HTTP clients.
    pub concurrency: Option<usize>,
    /// `-address`: a running server.
    pub address: Option<String>,
    /// `-quick`: small sizes.
    pub quick: bool,
    /// `-schedulers`: `num_schedulers` of the servers the bench starts.
    pub num_schedulers: Option<usize>,
    /// `-drover`: the drover binary.
    pub drover_bin: Option<PathBuf>,
    /// `-h`: print usage.
    pub help: bool,
}

pub(crate) fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options::default();
    let mut idx = 0;
    while idx < args.len() {
        let arg = &args[idx];
        idx += 1;
        if !arg.starts_with('-') {
            if !options.scenario.is_empty() {
                bail!("unexpected argument {arg:?}: one scenario at a time");
            }
            options.scenario = arg.clone();
            continue;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            if let Some(value) = inline.clone() {
                return Ok(value);
            }
            let value = args.get(idx).cloned().with_context(|| format!("-{name} needs a value"))?;
            idx += 1;
            Ok(value)
        };
        match name {
            "n" => options.n = Some(parse_count(&value("n")?).context("-n")?),
            "nodes" => {
                options.nodes = value("nodes")?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(parse_count)
                    .collect::<anyhow::Result<_>>()
                    .context("-nodes")?
            }
            "concurrency" | "c" => {
                options.concurrency = Some(parse_count(&value("concurrency")?).context("-concurrency")? as usize)
            }
            "address" => options.address = Some(value("address")?),
            "schedulers" => {
                options.num_schedulers = Some(parse_count(&value("schedulers")?).context("-schedulers")? as usize)
            }
            "drover" => options.drover_bin = Some(PathBuf::from(value("drover")?)),
            "quick" => options.quick = inline.as_deref().is_none_or(|v| v != "false"),
            "h" | "help" => options.help = true,
            other => bail!("unknown option -{other} (see drover-bench -h)"),
        }
    }
    if options.scenario.is_empty() && !options.help {
        bail!("missing scenario (see drover-bench -h)");
    }
    Ok(options)
}

/// `1000`, `1_000`, `1,000` is not allowed (it separates lists), `10k`, `1m`.
fn parse_count(text: &str) -> anyhow::Result<u64> {
    let text = text.trim().replace('_', "").to_ascii_lowercase();
    let (digits, factor) = match text.strip_suffix('k') {
        Some(d) => (d.to_string(), 1_000),
        None => match text.strip_suffix('m') {
            Some(d) => (d.to_string(), 1_000_000),
            None => (text.clone(), 1),
        },
    };
    let n: u64 = digits.parse().with_context(|| format!("invalid number {text:?}"))?;
    Ok(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_and_double_dash_with_or_without_equals() {
        let options = parse(&strings(&["placement", "-n", "10k", "--nodes=1000,5000", "-quick", "-concurrency=8"]))
            .expect("valid");
        assert_eq!(options.scenario, "placement");
        assert_eq!(options.n, Some(10_000));
        assert_eq!(options.nodes, vec![1000, 5000]);
        assert!(options.quick);
        assert_eq!(options.concurrency, Some(8));
        assert!(parse(&strings(&["all", "-bogus"])).is_err());
        assert!(parse(&strings(&["-n", "1"])).is_err());
        assert!(parse(&strings(&["all", "-n"])).is_err());
    }
}
