//! `dossier kb ...`: knowledge articles — add from JSON, search, show, publish, verify.
//!
//! `kb add` reads one `NewArticle` object or an array of them and stores all or none
//! (`create_articles` is one transaction). JSON mistakes are reported with their JSON path and
//! line, the way `sop import` reports them, because people write these files by hand.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use dossier::{Article, ArticleField, ArticleStatus, DocId, Store};

use crate::output::{self, opt_time, plural, time, truncate};
use crate::{Global, open_store, read_file};

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Add articles from a JSON file: one article object or an array of them, all or none.
    Add {
        /// The JSON file.
        #[arg(value_name = "FILE.json")]
        file: std::path::PathBuf,
    },
    /// Full-text search over titles and bodies; accents are ignored.
    Search {
        /// Words to look for.
        query: String,
        /// Only this locale.
        #[arg(long, value_name = "L")]
        locale: Option<String>,
        /// At most N hits.
        #[arg(long, value_name = "N", default_value_t = 10)]
        limit: usize,
    },
    /// Show an article in every locale.
    Show {
        /// Article document id.
        #[arg(value_name = "ID")]
        id: String,
        /// Show this published version.
        #[arg(long, value_name = "V")]
        version: Option<i64>,
    },
    /// Publish an article as a new version (counts as a verification).
    Publish {
        /// Article document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Record that the article was checked and is still right.
    Verify {
        /// Article document id.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Published articles due for verification.
    Due,
    /// Splice an article's title or body in one locale: delete K characters at POS, then
    /// insert TEXT there, as one change. Positions count Unicode characters; card numbers the
    /// edit completes are masked in place.
    Splice {
        /// Article document id.
        #[arg(value_name = "ID")]
        id: String,
        /// Which text: title or body.
        #[arg(long, value_name = "FIELD", value_parser = parse_field)]
        field: ArticleField,
        #[command(flatten)]
        at: crate::sop::SpliceAt,
    },
}

fn parse_field(s: &str) -> Result<ArticleField, String> {
    ArticleField::parse(s).map_err(|e| e.to_string())
}

fn article_id(s: &str) -> Result<DocId> {
    Ok(s.trim().parse::<DocId>()?)
}

pub fn run(g: &Global, cmd: KbCommand, out: &mut dyn Write) -> Result<()> {
    let store = open_store(g)?;
    match cmd {
        KbCommand::Add { file } => add(g, &store, &file, out),
        KbCommand::Search {
            query,
            locale,
            limit,
        } => search(g, &store, &query, locale.as_deref(), limit, out),
        KbCommand::Show { id, version } => {
            let id = article_id(&id)?;
            let a = match version {
                Some(v) => store.article_version(&id, v)?,
                None => store.article(&id)?,
            };
            if g.json {
                return output::json(out, &a);
            }
            print_article(&a, out)
        }
        KbCommand::Publish { id } => {
            let a = store.set_article_status(&article_id(&id)?, ArticleStatus::Published)?;
            if g.json {
                return output::json(out, &a);
            }
            let v = a.versions.last().map_or(0, |v| v.version);
            writeln!(out, "published {} as version {v}", a.id)?;
            Ok(())
        }
        KbCommand::Verify { id } => {
            let a = store.verify_article(&article_id(&id)?)?;
            if g.json {
                return output::json(out, &a);
            }
            writeln!(
                out,
                "verified {}; next verification due {}",
                a.id,
                opt_time(a.next_verification_at())
            )?;
            Ok(())
        }
        KbCommand::Splice { id, field, at } => {
            let id = article_id(&id)?;
            let edit =
                store.splice_article_text(&id, field, &at.locale, at.at, at.delete, &at.insert)?;
            let what = format!("{} ({}) of {id}", field.as_str(), at.locale);
            crate::sop::print_splice(g, &what, &edit, out)
        }
        KbCommand::Due => {
            let due = store.articles_due_for_verification()?;
            if g.json {
                let rows: Vec<serde_json::Value> = due
                    .iter()
                    .map(|(id, title, at)| serde_json::json!({"id": id, "title": title, "due_at": at}))
                    .collect();
                return output::json(out, &rows);
            }
            if due.is_empty() {
                writeln!(out, "no articles due for verification")?;
                return Ok(());
            }
            let mut rows = vec![vec!["ID".to_string(), "DUE".into(), "TITLE".into()]];
            for (id, title, at) in &due {
                rows.push(vec![id.to_string(), time(*at), truncate(title, 50)]);
            }
            output::table(out, &rows)
        }
    }
}

fn add(g: &Global, store: &Store, file: &Path, out: &mut dyn Write) -> Result<()> {
    let name = file.display().to_string();
    let text = read_file(file)?;
    let ids = store.import_articles_json(&text, &name)?;
    if g.json {
        return output::json(out, &ids);
    }
    writeln!(out, "added {}", plural(ids.len(), "article", "articles"))?;
    for id in &ids {
        let a = store.article(id)?;
        let title = a.title.values().next().map(String::as_str).unwrap_or("");
        writeln!(out, "  {id}  {}", truncate(title, 60))?;
    }
    Ok(())
}

fn search(
    g: &Global,
    store: &Store,
    query: &str,
    locale: Option<&str>,
    limit: usize,
    out: &mut dyn Write,
) -> Result<()> {
    let hits = store.search_articles(query, locale, limit)?;
    if g.json {
        return output::json(out, &hits);
    }
    if hits.is_empty() {
        writeln!(out, "no articles match")?;
        return Ok(());
    }
    for h in &hits {
        writeln!(out, "{}  [{}, {}]", h.title, h.locale, h.status)?;
        writeln!(out, "    {}", h.snippet.replace('\n', " "))?;
        writeln!(out, "    {}", h.id)?;
    }
    Ok(())
}

fn print_article(a: &Article, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "{}", a.id)?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    writeln!(out, "  status:       {}", a.status.as_str())?;
    writeln!(out, "  visibility:   {}", a.visibility.as_str())?;
    writeln!(out, "  markets:      {}", list(&a.markets))?;
    writeln!(out, "  categories:   {}", list(&a.categories))?;
    writeln!(
        out,
        "  verification: every {} days; last {} by {}; next due {}",
        a.verification.interval_days,
        opt_time(a.verification.last_verified_at),
        a.verification.verifier.as_deref().unwrap_or("-"),
        opt_time(a.next_verification_at())
    )?;
    if a.versions.is_empty() {
        writeln!(out, "  versions:     never published")?;
    }
    for v in &a.versions {
        writeln!(
            out,
            "  version {}:    {} by {}",
            v.version,
            time(v.published_at),
            v.by
        )?;
    }
    if !a.related_sops.is_empty() {
        writeln!(out, "  related sops: {}", a.related_sops.join(", "))?;
    }
    let mut locales: Vec<&String> = a.title.keys().chain(a.body.keys()).collect();
    locales.sort();
    locales.dedup();
    for l in locales {
        writeln!(out)?;
        writeln!(
            out,
            "[{l}] {}",
            a.title.get(l).map(String::as_str).unwrap_or("(no title)")
        )?;
        if let Some(b) = a.body.get(l) {
            output::indented(out, "    ", b)?;
        }
    }
    Ok(())
}
