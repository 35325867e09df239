"""The Python binding, exercised the way a host app uses it.

Two sites work offline, merge through change packs, and must end up identical; bad input must
come back as typed `DossierError`s, never as a crash; one store must take writes and reads from
many threads at once without losing anything. `cargo xtask test` runs this file against the
freshly built library with `PYTHONPATH` pointing at the generated `dossier.py`.
"""

import asyncio
import os
import tempfile
import threading
import unittest

import dossier
from dossier import (
    ArticleStatus,
    CaseFilter,
    CaseUpdate,
    Category,
    DocKind,
    DossierError,
    NewArticle,
    NewCase,
    OpenOptions,
    Origin,
    Payment,
    Priority,
    Status,
    Store,
)

SOP_JSON = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "..", "core", "src", "sop", "testdata", "upi_debited_not_credited.json",
)


class Recorder:
    """A ChangeListener that keeps every notice it receives."""

    def __init__(self):
        self.lock = threading.Lock()
        self.notices = []

    def on_change(self, notice):
        with self.lock:
            self.notices.append(notice)

    def kinds(self, origin):
        with self.lock:
            return [d.kind for n in self.notices if n.origin == origin for d in n.docs]


def merge(into, source):
    """Merge via change packs by hand: for every document of `source`, pack what `into` lacks."""
    mine = {d.id for d in into.documents()}
    applied = 0
    for doc in source.documents():
        heads = into.heads(doc.id) if doc.id in mine else []
        pack = source.changes_since(doc.id, heads)
        applied += into.apply_changes(pack).new_changes
    return applied


class TwoSites(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        path = lambda name: os.path.join(self.dir.name, name)
        self.mx = Store.open(path("mx1.db"), OpenOptions(site="MX1", author="ana"))
        self.bl = Store.open(path("blr2.db"), OpenOptions(site="BLR2", author="bala"))

    def tearDown(self):
        self.mx.shutdown()
        self.bl.shutdown()
        self.dir.cleanup()

    def new_case(self, store, subject="Money debited, not credited", **kw):
        return store.create_case(
            NewCase(market="IN-UPI", category=Category.FAILED_PAYMENT, subject=subject, **kw)
        )

    def test_a_case_is_created_edited_and_listed_with_card_numbers_masked(self):
        case = self.new_case(
            self.mx,
            subject="Debited twice, card 4111 1111 1111 1111",
            payment=Payment(rail="upi", txn_ref="412345678901", amount_minor=49900, currency="INR"),
            tags=["upi"],
        )
        self.assertEqual(case.number, "MX1-1")
        self.assertEqual(case.subject, "Debited twice, card 411111******1111")
        self.assertEqual(case.payment.txn_ref, "412345678901")
        self.assertEqual(case.status, Status.NEW)

        case = self.mx.update_case(
            case.number,
            CaseUpdate(status=Status.OPEN, priority=Priority.HIGH, assignee="ana",
                       add_tags=["p2m"], set_fields={"rrn": "412345678901"}),
        )
        self.assertEqual((case.status, case.priority, case.assignee), (Status.OPEN, Priority.HIGH, "ana"))
        self.assertEqual(case.tags, ["p2m", "upi"])
        self.assertEqual(case.fields["rrn"], "412345678901")

        case = self.mx.add_note(case.number, "Customer sent the bank statement", False)
        self.assertIn("note", [e.kind for e in case.events])
        case = self.mx.escalate(case.number, "psp_bank", "T+5 passed")
        self.assertEqual(case.escalations[0].to, "psp_bank")
        case = self.mx.set_sla(case.number, "resolution", 4_102_444_800_000)
        self.assertEqual(case.sla_due_at, 4_102_444_800_000)
        case = self.mx.mark_sla_met(case.number, "resolution")
        self.assertIsNotNone(case.sla["resolution"].met_at)

        self.new_case(self.mx, subject="Another one")
        self.assertEqual(len(self.mx.list_cases(CaseFilter())), 2)
        rows = self.mx.list_cases(CaseFilter(status=Status.OPEN, market="IN-UPI", tag="p2m"))
        self.assertEqual([r.number for r in rows], ["MX1-1"])
        self.assertEqual(self.mx.list_cases(CaseFilter(limit=1))[0].number, "MX1-2")
        self.assertEqual(self.mx.get_case(case.id).number, "MX1-1")

        history = self.mx.history(case.id)
        self.assertEqual(history[0].action, "case.create")
        self.assertEqual(self.mx.case_at(case.number, history[0].heads).status, Status.NEW)

    def test_two_sites_merge_via_change_packs_and_converge(self):
        case = self.new_case(self.mx)
        self.assertGreater(merge(self.bl, self.mx), 0)
        self.assertEqual(merge(self.bl, self.mx), 0, "applying the same packs again adds nothing")

        self.mx.update_case(case.number, CaseUpdate(status=Status.SOLVED))
        self.bl.update_case(case.number, CaseUpdate(priority=Priority.URGENT, assignee="bala"))
        self.bl.add_note(case.number, "Called the customer", True)
        self.assertEqual(self.mx.pull_from(self.bl).documents_updated, 1)
        self.assertEqual(self.bl.pull_from(self.mx).documents_updated, 1)

        a, b = self.mx.get_case(case.number), self.bl.get_case(case.number)
        self.assertEqual(a, b)
        self.assertEqual((a.status, a.priority, a.assignee), (Status.SOLVED, Priority.URGENT, "bala"))
        self.assertEqual(self.mx.conflicts(case.id), [])

    def test_the_async_merge_completes_in_an_asyncio_loop(self):
        self.new_case(self.mx)
        self.new_case(self.mx)
        report = asyncio.run(self.bl.pull_from_async(self.mx))
        self.assertEqual(report.documents_updated, 2)
        self.assertEqual(len(self.bl.list_cases(CaseFilter())), 2)

    def test_an_sop_is_imported_edited_merged_published_with_four_eyes_and_walked(self):
        with open(SOP_JSON, encoding="utf-8") as f:
            sop = self.mx.import_sop(f.read(), "upi.json")
        self.assertEqual(sop.status, dossier.SopStatus.DRAFT)
        self.assertEqual(sop.violations, [])
        self.assertEqual(self.mx.validate_sop(sop.id), [])
        self.assertEqual(sop.entry, "start")

        sop = self.mx.set_sop_text(sop.id, "start", "en", "Was the customer's bank account debited?")
        start = next(n for n in sop.nodes if n.id == "start")
        self.assertEqual(start.text["en"], "Was the customer's bank account debited?")
        self.mx.submit_sop(sop.id)
        with self.assertRaises(DossierError.FourEyes):
            self.mx.publish_sop(sop.id)

        merge(self.bl, self.mx)
        published = self.bl.publish_sop(sop.id)
        self.assertEqual(published.status, dossier.SopStatus.PUBLISHED)
        self.assertEqual(published.versions[0].by, "bala")

        walk = self.bl.walk_sop(sop.id, None, ["Yes", "P2M", "days_since_txn=9"])
        self.assertEqual(walk.version, 1)
        self.assertEqual(walk.result.end, "end_escalated")
        self.assertEqual(walk.result.outcome, dossier.OutcomeResult.UNKNOWN)
        self.assertEqual([a.action.kind for a in walk.result.actions], ["require_field", "escalate"])
        pending = self.bl.walk_sop(sop.id, None, ["Yes"])
        self.assertEqual(pending.result.pending, "type")

        case = self.new_case(self.bl)
        run = self.bl.record_sop_run(case.number, sop.id, ["No"])
        self.assertEqual(run.end, "end_no_debit")
        self.assertEqual(self.bl.get_case(case.number).sop_runs[0].outcome, "success")
        self.assertEqual([s.title for s in self.bl.list_sops()], ["UPI money debited, not credited"])

    def test_article_search_folds_accents(self):
        article = self.mx.create_article(NewArticle(
            title={"es": "Reembolsó pendiente"},
            body={"es": "Cuándo llega un reembolso por Bizum o tarjeta."},
            markets=["ES"],
        ))
        hits = self.mx.search_articles("reembolso", None, 10)
        self.assertEqual([h.id for h in hits], [article.id])
        self.assertEqual(hits[0].locale, "es")
        self.assertEqual(self.mx.search_articles("cuando", "es", 10)[0].title, "Reembolsó pendiente")
        self.assertEqual(self.mx.search_articles("reembolso", "pt-BR", 10), [])

        article = self.mx.edit_article(article.id, "es", None, "Texto nuevo sobre devoluciones.")
        self.assertEqual(article.body["es"], "Texto nuevo sobre devoluciones.")
        article = self.mx.set_article_status(article.id, ArticleStatus.PUBLISHED)
        self.assertEqual(len(article.versions), 1)
        self.assertIsNotNone(self.mx.verify_article(article.id).verification.last_verified_at)

    def test_listeners_hear_local_writes_and_merged_changes_until_cancelled(self):
        mine, theirs = Recorder(), Recorder()
        sub = self.mx.subscribe(mine)
        self.bl.subscribe(theirs)
        case = self.new_case(self.mx)
        self.mx.add_note(case.number, "First contact", False)
        self.assertEqual(mine.kinds(Origin.LOCAL), [DocKind.CASE, DocKind.CASE])
        self.assertEqual(mine.notices[0].docs[0].id, case.id)

        self.bl.pull_from(self.mx)
        self.assertEqual(theirs.kinds(Origin.REMOTE), [DocKind.CASE])

        sub.cancel()
        self.new_case(self.mx)
        self.assertEqual(len(mine.notices), 2)

    def test_a_listener_that_raises_does_not_fail_the_write(self):
        class Broken:
            def on_change(self, notice):
                raise RuntimeError("listener bug")

        self.mx.subscribe(Broken())
        self.assertEqual(self.new_case(self.mx).number, "MX1-1")

    def test_bad_input_comes_back_as_typed_errors(self):
        case = self.new_case(self.mx)
        self.mx.update_case(case.number, CaseUpdate(status=Status.CLOSED))
        with self.assertRaises(DossierError.CaseClosed) as closed:
            self.mx.update_case(case.number, CaseUpdate(priority=Priority.LOW))
        self.assertIn(case.number, str(closed.exception))

        with self.assertRaises(DossierError.Invalid) as bad:
            self.mx.create_case(NewCase(market="india upi", category=Category.OTHER, subject="x"))
        self.assertIn("market", str(bad.exception))

        with self.assertRaises(DossierError.Import) as malformed:
            self.mx.import_sop('{"title": "x", "nodes": [}', "broken.json")
        self.assertIn("broken.json", str(malformed.exception))

        with self.assertRaises(DossierError.Rejected):
            self.mx.apply_changes(b"\x00garbage, not a change pack")
        with self.assertRaises(DossierError.Rejected):
            self.mx.apply_changes(b"DSCP\x01" + b"\xff" * 40)

        with self.assertRaises(DossierError.NotFound):
            self.mx.get_case("MX1-999")
        with self.assertRaises(DossierError.Invalid):
            self.mx.get_sop("not-an-id")
        with self.assertRaises(DossierError.WrongKind):
            self.mx.get_sop(case.id)
        with self.assertRaises(DossierError.Invalid):
            self.mx.changes_since(case.id, ["zz"])
        with self.assertRaises(DossierError.SiteMismatch):
            Store.open(os.path.join(self.dir.name, "mx1.db"), OpenOptions(site="SP3"))
        with self.assertRaises(DossierError.NotInitialized):
            Store.open(os.path.join(self.dir.name, "new.db"), OpenOptions())

        # Every kind is a DossierError, so one `except DossierError` catches them all.
        self.assertTrue(issubclass(DossierError.CaseClosed, DossierError))

    def test_a_shut_down_store_refuses_calls_with_closed(self):
        self.mx.shutdown()
        with self.assertRaises(DossierError.Closed):
            self.mx.list_cases(CaseFilter())
        self.mx.shutdown()


class ThreadSafety(unittest.TestCase):
    WRITERS, READERS, CASES_PER_WRITER = 4, 4, 25

    def test_one_store_hammered_by_writer_and_reader_threads_loses_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            store = Store.open(os.path.join(d, "busy.db"), OpenOptions(site="MX1"))
            heard = Recorder()
            store.subscribe(heard)
            errors, created = [], [[] for _ in range(self.WRITERS)]
            writing = threading.Event()

            def writer(i):
                try:
                    for n in range(self.CASES_PER_WRITER):
                        case = store.create_case(NewCase(
                            market="BR-PIX", category=Category.REFUND, subject=f"writer {i} case {n}"))
                        store.add_note(case.number, f"note from writer {i}", False)
                        created[i].append(case.number)
                except Exception as e:  # noqa: BLE001 - any failure fails the test below
                    errors.append(e)

            def reader():
                try:
                    while writing.is_set():
                        for row in store.list_cases(CaseFilter(limit=20)):
                            self.assertEqual(store.get_case(row.number).number, row.number)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

            writing.set()
            readers = [threading.Thread(target=reader) for _ in range(self.READERS)]
            writers = [threading.Thread(target=writer, args=(i,)) for i in range(self.WRITERS)]
            for t in readers + writers:
                t.start()
            for t in writers:
                t.join()
            writing.clear()
            for t in readers:
                t.join()

            self.assertEqual(errors, [])
            total = self.WRITERS * self.CASES_PER_WRITER
            numbers = [n for per in created for n in per]
            self.assertEqual(len(set(numbers)), total)
            listed = store.list_cases(CaseFilter(limit=10_000))
            self.assertEqual(sorted(r.number for r in listed), sorted(numbers))
            for number in numbers:
                notes = [e for e in store.get_case(number).events if e.kind == "note"]
                self.assertEqual(len(notes), 1, number)
            self.assertEqual(len(heard.notices), 2 * total)
            store.shutdown()


if __name__ == "__main__":
    unittest.main(verbosity=2)
