//! The case operations of [`Store`].

use super::*;

impl Store {
    /// Finds a case by number (`MX1-42`) or document id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing matches.
    pub fn resolve_case(&self, key: &str) -> Result<DocId> {
        if let Ok(id) = key.parse::<DocId>() {
            return Ok(id);
        }
        let id: Option<String> = self.read(|c| {
            Ok(c.prepare_cached("SELECT id FROM cases WHERE number = ?1")?
                .query_row([key.trim()], |r| r.get(0))
                .optional()?)
        })?;
        id.ok_or_else(|| Error::not_found("case", key))?.parse()
    }

    /// Opens a new case numbered `<SITE>-<seq>`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad market, an empty or oversized subject, a bad payment field.
    pub fn create_case(&self, new: NewCase) -> Result<Case> {
        let (id, mut views) =
            self.write_with_views("case.create", Origin::Local, |w| create_case_in(w, &new))?;
        if self.workflow().is_none() {
            // The view the projection materialized is the case as committed.
            if let Some(case) = views.take::<Case>(&id) {
                return Ok(case);
            }
        } else {
            self.after_change(&id, &[(Trigger::CaseCreated, None)]);
        }
        self.case_by_id(&id)
    }

    /// Opens many cases in one transaction: all of them or none.
    ///
    /// # Errors
    /// The first invalid case's error, with its index in `cases`; nothing is stored then.
    pub fn create_cases(&self, cases: &[NewCase]) -> Result<Vec<DocId>> {
        let ids = self.write("case.create", Origin::Local, |w| {
            cases
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    create_case_in(w, c).map_err(|e| Error::Import {
                        source_name: "cases".into(),
                        location: crate::error::Location::Record { index: i },
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<DocId>>>()
        })?;
        if self.workflow().is_some() {
            for id in &ids {
                self.after_change(id, &[(Trigger::CaseCreated, None)]);
            }
        }
        Ok(ids)
    }

    /// The merged view of a case, by number or id.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::WrongKind`] if the id is not a case.
    pub fn case(&self, key: &str) -> Result<Case> {
        self.case_by_id(&self.resolve_case(key)?)
    }

    /// The merged view of a case by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] or [`Error::WrongKind`].
    pub fn case_by_id(&self, id: &DocId) -> Result<Case> {
        let doc = self.load_kind(id, DocKind::Case)?;
        materialize(*id, &*doc, None)
    }

    /// The case as it was at `heads` (from [`Store::history`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `heads` are not in the document.
    pub fn case_at(&self, key: &str, heads: &[ChangeHash]) -> Result<Case> {
        let id = self.resolve_case(key)?;
        let doc = self.load_kind(&id, DocKind::Case)?;
        crate::history::check_heads(&doc, heads)?;
        materialize(id, &*doc, Some(heads))
    }

    /// Applies `update` as one change in one transaction: fields, status, a note, an
    /// escalation and SLA changes together, each with its event. Solving a problem case solves
    /// its open incidents in the same transaction. Returns the case as committed (and as the
    /// plugins left it, when a plugin host is installed).
    ///
    /// # Errors
    /// [`Error::CaseClosed`] for a closed case; [`Error::Invalid`] for bad values;
    /// [`Error::NotFound`] for an SLA metric marked met that was never set. Nothing is written
    /// then.
    pub fn update_case(&self, key: &str, update: CaseUpdate) -> Result<Case> {
        update.check()?;
        let id = self.resolve_case(key)?;
        let problem = match &update.problem {
            Some(p) => Some(self.resolve_case(p)?),
            None => None,
        };
        if problem == Some(id) {
            return Err(Error::invalid(
                "problem",
                "a case cannot be its own problem",
            ));
        }
        let incidents = if update.status == Some(Status::Solved) {
            self.read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id FROM cases WHERE problem = ?1 AND status NOT IN ('solved', 'closed')",
                )?;
                let ids = stmt.query_map([id.to_string()], |r| r.get::<_, String>(0))?;
                let mut out = Vec::new();
                for i in ids {
                    out.push(i?.parse::<DocId>()?);
                }
                Ok(out)
            })?
        } else {
            Vec::new()
        };
        // Plugins see the status before and may refuse a solve; without a plugin host this
        // costs nothing.
        let before = match self.workflow() {
            Some(_) => Some(head(id, &*self.load_kind(&id, DocKind::Case)?)?.status),
            None => None,
        };
        if update.status == Some(Status::Solved)
            && before.is_some_and(|s| s != Status::Solved && s != Status::Closed)
        {
            self.before_solve(&id)?;
        }
        let ((), mut views) = self.write_with_views("case.update", Origin::Local, |w| {
            let (number, root_cause) = edit_open_case_head(w, &id, |dt, case| {
                apply_update(dt, case, &update, problem)?;
                let root_cause = update
                    .root_cause
                    .clone()
                    .or_else(|| case.root_cause.clone());
                Ok((case.number.clone(), root_cause))
            })?;
            for incident in &incidents {
                edit_open_case_head(w, incident, |dt, case| {
                    change_status(dt, case.status, Status::Solved)?;
                    // Solved through the problem, the incident shares its root cause unless it
                    // has its own (see `materialize`).
                    if let Some(rc) = &root_cause
                        && case.root_cause.is_none()
                    {
                        dt.put_str(&ObjId::Root, "inherited_root_cause", "root_cause", rc)?;
                    }
                    dt.event(
                        "problem_solved",
                        &format!("solved with problem {number}"),
                        "internal",
                    )
                })?;
            }
            Ok(())
        })?;
        match before {
            None => match views.take::<Case>(&id) {
                Some(case) => Ok(case),
                // Nothing changed, so nothing was projected: the case as it is.
                None => self.case_by_id(&id),
            },
            Some(before) => {
                let mut triggers = Vec::new();
                if update.status.is_some_and(|s| s != before) {
                    triggers.push((Trigger::StatusChanged, Some(before)));
                }
                triggers.push((Trigger::CaseUpdated, None));
                self.after_change(&id, &triggers);
                self.case_by_id(&id)
            }
        }
    }

    /// Adds a note to the case timeline ([`Store::update_case`] with only a note).
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for an empty or oversized note.
    pub fn add_note(&self, key: &str, body: &str, public: bool) -> Result<Case> {
        self.update_case(
            key,
            CaseUpdate {
                note: Some(body.to_string()),
                public_note: public,
                ..Default::default()
            },
        )
    }

    /// Escalates the case to another team ([`Store::update_case`] with only an escalation).
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for a bad team name or empty reason.
    pub fn escalate(&self, key: &str, to: &str, reason: &str) -> Result<Case> {
        self.update_case(
            key,
            CaseUpdate {
                escalate: Some(EscalateTo {
                    to: to.to_string(),
                    reason: reason.to_string(),
                }),
                ..Default::default()
            },
        )
    }

    /// Sets (or moves) the due time of an SLA metric such as `first_reply` or `resolution`
    /// ([`Store::update_case`] with only that).
    ///
    /// # Errors
    /// [`Error::CaseClosed`]; [`Error::Invalid`] for a bad metric name.
    pub fn set_sla(&self, key: &str, metric: &str, due_at: i64) -> Result<Case> {
        self.update_case(
            key,
            CaseUpdate {
                sla_due: BTreeMap::from([(metric.to_string(), due_at)]),
                ..Default::default()
            },
        )
    }

    /// Marks an SLA metric met now ([`Store::update_case`] with only that).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the metric was never set; [`Error::CaseClosed`].
    pub fn mark_sla_met(&self, key: &str, metric: &str) -> Result<Case> {
        self.update_case(
            key,
            CaseUpdate {
                sla_met: vec![metric.to_string()],
                ..Default::default()
            },
        )
    }

    /// Lists cases from the projection, newest first (most overdue first with `breached`).
    ///
    /// # Errors
    /// Storage errors only.
    pub fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>> {
        let now = self.now();
        let mut sql = String::from(
            "SELECT id, number, market, site, status, priority, category, subject, assignee, \
             created_at, updated_at, sla_due_at FROM cases c WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(s) = filter.status {
            push(&mut sql, " AND status = ?", s.as_str().to_string().into());
        }
        if let Some(m) = &filter.market {
            push(&mut sql, " AND market = ?", m.clone().into());
        }
        if let Some(s) = &filter.site {
            push(&mut sql, " AND site = ?", s.clone().into());
        }
        if let Some(c) = filter.category {
            push(&mut sql, " AND category = ?", c.as_str().to_string().into());
        }
        if let Some(a) = &filter.assignee {
            push(&mut sql, " AND assignee = ?", a.clone().into());
        }
        if let Some(t) = &filter.tag {
            push(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM case_tags t WHERE t.case_id = c.id AND t.tag = ?)",
                t.to_lowercase().into(),
            );
        }
        if filter.breached {
            push(&mut sql, " AND sla_due_at < ?", now.into());
            sql.push_str(" ORDER BY sla_due_at, id");
        } else {
            sql.push_str(" ORDER BY created_at DESC, id DESC");
        }
        push(
            &mut sql,
            " LIMIT ?",
            (filter.limit.unwrap_or(100).min(1_000_000) as i64).into(),
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Option<i64>>(11)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (
                    id,
                    number,
                    market,
                    site,
                    status,
                    priority,
                    category,
                    subject,
                    assignee,
                    created_at,
                    updated_at,
                    due,
                ) = row?;
                out.push(CaseSummary {
                    id: id.parse()?,
                    number,
                    market,
                    site,
                    status: status.parse()?,
                    priority: priority.parse()?,
                    category: category.parse()?,
                    subject,
                    assignee,
                    created_at,
                    updated_at,
                    sla_due_at: due,
                    breached: due.is_some_and(|d| d < now),
                });
            }
            Ok(out)
        })
    }
}
