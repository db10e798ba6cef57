//! `drover status [id]`: lists jobs, or finds any object by ID prefix (job,
//! allocation, evaluation, node) and shows its status.

use std::process::ExitCode;

use anyhow::{Context, bail};

use drover_types::api::SearchResponse;

use crate::cli::flags::GeneralOptions;
use crate::cli::job::status as job_status;
use crate::cli::{alloc, eval, node};

/// Flags of `drover status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Full IDs and details.
    #[arg(long)]
    pub verbose: bool,
    /// Short output where the object supports it.
    #[arg(long)]
    pub short: bool,
    /// General options.
    #[command(flatten)]
    pub general: GeneralOptions,
    /// Any ID or prefix; none lists jobs.
    pub id: Option<String>,
}

/// What a search found for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing.
    Nothing,
    /// One object of a context (`jobs`, `allocs`, `evals`, `nodes`) and its ID.
    One(String, String),
    /// Several objects, as `(context, id)`.
    Many(Vec<(String, String)>),
}

/// The contexts `status` can show, in the order they win ties.
const CONTEXTS: [&str; 4] = ["jobs", "allocs", "evals", "nodes"];

/// Picks the object a prefix names from a search reply; an exact ID wins.
pub fn pick(prefix: &str, resp: &SearchResponse) -> Found {
    let mut all = Vec::new();
    for context in CONTEXTS {
        for id in resp.matches.get(context).into_iter().flatten() {
            all.push((context.to_string(), id.clone()));
        }
    }
    if let Some((context, id)) = all.iter().find(|(_, id)| id == prefix) {
        return Found::One(context.clone(), id.clone());
    }
    match all.len() {
        0 => Found::Nothing,
        1 => {
            let (context, id) = all.remove(0);
            Found::One(context, id)
        }
        _ => Found::Many(all),
    }
}

/// Runs `drover status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let Some(prefix) = args.id.clone() else {
        let job_args = job_status::StatusArgs {
            verbose: args.verbose,
            all_allocs: false,
            short: args.short,
            children: false,
            filters: Vec::new(),
            group: None,
            general: args.general,
            job: None,
        };
        return job_status::run(job_args).await;
    };
    let (client, ui) = args.general.resolve()?;
    let found = match client.search(&prefix, "all").await {
        Ok(resp) => pick(&prefix, &resp),
        // A server without search: treat the prefix as a job.
        Err(err) if err.is_not_found() => Found::One("jobs".to_string(), prefix.clone()),
        Err(err) => return Err(err).context("Error querying search"),
    };
    let options = job_status::Options { verbose: args.verbose, short: args.short, all_allocs: false };
    match found {
        Found::Nothing => bail!("No job(s) with prefix or id {prefix:?} found"),
        Found::One(context, id) => match context.as_str() {
            "jobs" => {
                let job = crate::cli::resolve::job(&client, &id).await?;
                job_status::show(&client, &ui, &job.id, options).await
            }
            "allocs" => alloc::show(&client, &ui, &id, args.verbose, args.short).await,
            "evals" => eval::show(&client, &ui, &id, args.verbose).await,
            _ => node::show(&client, &ui, &id, args.verbose).await,
        },
        Found::Many(matches) => {
            let mut text = String::from("Prefix matched multiple objects:\n");
            for context in CONTEXTS {
                let ids: Vec<&str> = matches.iter().filter(|(c, _)| c == context).map(|(_, id)| id.as_str()).collect();
                if ids.is_empty() {
                    continue;
                }
                let title = match context {
                    "jobs" => "Jobs",
                    "allocs" => "Allocations",
                    "evals" => "Evaluations",
                    _ => "Nodes",
                };
                text.push_str(&format!("\n{title}\n{}\n", ids.join("\n")));
            }
            bail!("{}", text.trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn resp(pairs: &[(&str, &[&str])]) -> SearchResponse {
        SearchResponse {
            matches: pairs
                .iter()
                .map(|(context, ids)| (context.to_string(), ids.iter().map(|id| id.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
            ..SearchResponse::default()
        }
    }

    #[test]
    fn search_picks() {
        assert_eq!(pick("ex", &resp(&[("jobs", &["example"])])), Found::One("jobs".into(), "example".into()));
        assert_eq!(
            pick("example", &resp(&[("jobs", &["example", "example/dispatch-1"])])),
            Found::One("jobs".into(), "example".into())
        );
        assert_eq!(pick("zz", &resp(&[("jobs", &[]), ("nodes", &[])])), Found::Nothing);
        assert_eq!(
            pick("8b", &resp(&[("allocs", &["8ba85cef"]), ("evals", &["8b000000"])])),
            Found::Many(vec![("allocs".into(), "8ba85cef".into()), ("evals".into(), "8b000000".into())])
        );
    }
}
