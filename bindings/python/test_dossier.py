"""The Python binding, exercised the way a host app uses it.

Two sites work offline, provision each other's keys, merge through signed bundle files (and
change packs), and must end up identical; two sites sync through a real hub (`dossier serve`),
blocking and from asyncio, and their listeners hear what arrives; bad input and refused bundles
or sessions must come back as typed `DossierError`s, never as a crash; one store must take writes
and reads from many threads at once without losing anything. `cargo xtask test` runs this file
against the freshly built library with `PYTHONPATH` pointing at the generated `dossier.py` and
`DOSSIER_CLI` at the built `dossier` command.
"""

import asyncio
import datetime
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import threading
import unittest

import dossier
from dossier import (
    ArticleField,
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
    RejectCode,
    Side,
    Status,
    Store,
    Trigger,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SOP_JSON = os.path.join(ROOT, "core", "src", "sop", "testdata", "upi_debited_not_credited.json")
DOSSIER_CLI = os.environ.get("DOSSIER_CLI") or os.path.join(ROOT, "target", "debug", "dossier")
PLUGIN_WASM = os.environ.get("DOSSIER_PLUGIN_WASM") or os.path.join(
    ROOT, "target", "wasm-plugins", "wasm32-wasip2", "release", "in_upi_failed_txn.wasm"
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


def provision(a, b, a_grants_b=("*",), b_grants_a=("*",)):
    """Each store provisions the other by its public key, with the scopes it grants it."""
    a.add_peer(b.site(), b.public_key(), list(a_grants_b))
    b.add_peer(a.site(), a.public_key(), list(b_grants_a))


def carry(source, into, directory):
    """Merge via a signed bundle file: what `into` lacks, written by `source`, imported by `into`."""
    path = os.path.join(directory, f"{source.site()}-for-{into.site()}.bundle")
    source.export_bundle(path, into.site())
    return into.import_bundle(path)


def merge_packs(into, source):
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
        provision(self.mx, self.bl)

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

        # One call, one change: a status, a note, an escalation and an SLA deadline together.
        changes = len(self.mx.history(case.id))
        case = self.mx.update_case(
            case.number,
            CaseUpdate(priority=Priority.URGENT, note="Asked the customer for the UTR", public_note=True,
                       escalate_to="risk", escalation_reason="second debit",
                       sla_due={"first_reply": 4_102_444_800_000}),
        )
        self.assertEqual(len(self.mx.history(case.id)), changes + 1)
        self.assertEqual(case.priority, Priority.URGENT)
        self.assertEqual([e.to for e in case.escalations], ["psp_bank", "risk"])
        self.assertEqual(case.events[-1].kind, "note")
        self.assertEqual(case.events[-1].visibility, "public")
        self.assertEqual(case.sla["first_reply"].due_at, 4_102_444_800_000)
        with self.assertRaises(DossierError.Invalid):
            self.mx.update_case(case.number, CaseUpdate(escalate_to="risk"))

        self.new_case(self.mx, subject="Another one")
        self.assertEqual(len(self.mx.list_cases(CaseFilter())), 2)
        rows = self.mx.list_cases(CaseFilter(status=Status.OPEN, market="IN-UPI", tag="p2m"))
        self.assertEqual([r.number for r in rows], ["MX1-1"])
        self.assertEqual(self.mx.list_cases(CaseFilter(limit=1))[0].number, "MX1-2")
        self.assertEqual(self.mx.get_case(case.id).number, "MX1-1")

        history = self.mx.history(case.id)
        self.assertEqual(history[0].action, "case.create")
        self.assertEqual(self.mx.case_at(case.number, history[0].heads).status, Status.NEW)

    def test_two_sites_merge_via_bundle_files_and_converge(self):
        case = self.new_case(self.mx)
        report = carry(self.mx, self.bl, self.dir.name)
        self.assertEqual((report.from_site, report.docs, report.docs_updated), ("MX1", 1, 1))
        self.assertGreater(report.new_changes, 0)
        self.assertEqual(report.rejected, [])
        again = self.bl.import_bundle(os.path.join(self.dir.name, "MX1-for-BLR2.bundle"))
        self.assertEqual(again.new_changes, 0, "importing the same bundle again adds nothing")

        # Both sites edit the same case while apart, then swap bundles.
        self.mx.update_case(case.number, CaseUpdate(status=Status.SOLVED))
        self.bl.update_case(case.number, CaseUpdate(priority=Priority.URGENT, assignee="bala"))
        self.bl.add_note(case.number, "Called the customer", True)
        self.assertEqual(carry(self.bl, self.mx, self.dir.name).docs_updated, 1)
        self.assertEqual(carry(self.mx, self.bl, self.dir.name).docs_updated, 1)
        a, b = self.mx.get_case(case.number), self.bl.get_case(case.number)
        self.assertEqual(a, b)
        self.assertEqual((a.status, a.priority, a.assignee), (Status.SOLVED, Priority.URGENT, "bala"))

    def test_a_bundle_carries_only_what_the_peer_may_read(self):
        self.mx.add_peer("BLR2", self.bl.public_key(), ["IN-UPI"])
        upi = self.new_case(self.mx)
        pix = self.mx.create_case(NewCase(market="BR-PIX", category=Category.REFUND, subject="Pix"))
        path = os.path.join(self.dir.name, "upi-only.bundle")
        exported = self.mx.export_bundle(path, "BLR2")
        self.assertEqual(exported.docs, 1)
        self.assertEqual(exported.bytes, os.path.getsize(path))
        self.assertEqual(self.bl.import_bundle(path).docs_updated, 1)
        self.assertEqual(self.bl.get_case(upi.number).id, upi.id)
        with self.assertRaises(DossierError.NotFound):
            self.bl.get_case(pix.number)

    def test_a_tampered_truncated_or_misaddressed_bundle_is_refused_and_changes_nothing(self):
        self.new_case(self.mx, subject="Refund pending for a week")
        path = os.path.join(self.dir.name, "for-blr2.bundle")
        self.mx.export_bundle(path, "BLR2")
        with open(path, "rb") as f:
            good = f.read()

        def refused(data, kind):
            bad = os.path.join(self.dir.name, "bad.bundle")
            with open(bad, "wb") as f:
                f.write(data)
            with self.assertRaises(kind) as raised:
                self.bl.import_bundle(bad)
            self.assertEqual(self.bl.documents(), [], "nothing of a refused bundle is stored")
            return str(raised.exception)

        tampered = bytearray(good)
        tampered[len(good) // 2] ^= 0x55
        self.assertIn("signature", refused(bytes(tampered), DossierError.Auth))
        self.assertIn("truncated", refused(good[: len(good) - 10], DossierError.SyncFailed))
        self.assertIn("not a dossier bundle", refused(b"PK\x03\x04 a zip file", DossierError.SyncFailed))

        # Signed by a site BLR2 never provisioned, and made for another site.
        stranger = Store.open(os.path.join(self.dir.name, "sp3.db"), OpenOptions(site="SP3"))
        provision(stranger, self.mx)
        stranger.add_peer("BLR2", self.bl.public_key(), ["*"])
        self.new_case(stranger)
        stranger.export_bundle(path, "BLR2")
        with open(path, "rb") as f:
            refused(f.read(), DossierError.Auth)
        self.mx.export_bundle(path, "SP3")
        with open(path, "rb") as f:
            self.assertIn("another site", refused(f.read(), DossierError.SyncFailed))
        stranger.shutdown()
        with self.assertRaises(DossierError.Storage):
            self.bl.import_bundle(os.path.join(self.dir.name, "no-such.bundle"))
        self.assertEqual(self.bl.documents(), [])

    def test_peers_are_provisioned_by_public_key_listed_and_removed(self):
        key = self.bl.public_key()
        self.assertEqual(key, self.bl.public_key())
        self.assertNotEqual(key, self.mx.public_key())
        peer = self.mx.add_peer("BLR2", key, ["IN-UPI", "*/sop:ro"])
        self.assertEqual((peer.site, peer.public_key, peer.scopes), ("BLR2", key, ["IN-UPI", "*/sop:ro"]))
        self.assertIsNone(peer.last_sync_at)
        self.assertEqual([p.site for p in self.mx.peers()], ["BLR2"])
        with self.assertRaises(DossierError.Invalid):
            self.mx.add_peer("BLR2", "not-a-key", ["*"])
        with self.assertRaises(DossierError.Invalid):
            self.mx.add_peer("BLR2", key, ["india upi"])
        with self.assertRaises(DossierError.Invalid):
            self.mx.add_peer("BLR2", key, [])
        with self.assertRaises(DossierError.Invalid):
            self.mx.add_peer("MX1", self.mx.public_key(), ["*"])
        self.mx.remove_peer("BLR2")
        self.assertEqual(self.mx.peers(), [])
        with self.assertRaises(DossierError.NotFound):
            self.mx.remove_peer("BLR2")
        with self.assertRaises(DossierError.NotFound):
            self.mx.export_bundle(os.path.join(self.dir.name, "x.bundle"), "BLR2")

    def test_two_sites_merge_via_change_packs_and_converge(self):
        case = self.new_case(self.mx)
        self.assertGreater(merge_packs(self.bl, self.mx), 0)
        self.assertEqual(merge_packs(self.bl, self.mx), 0, "applying the same packs again adds nothing")

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
        # One keystroke: splice at a character position, answered with the new length only.
        edit = self.mx.splice_sop_text(sop.id, "start", "en", 19, 5, "")
        self.assertEqual(edit.length, len("Was the customer's account debited?"))
        self.assertFalse(edit.redacted)
        edit = self.mx.splice_sop_text(sop.id, "start", "en", 19, 0, "bank ")
        self.assertEqual(edit.heads, self.mx.heads(sop.id))
        with self.assertRaises(DossierError.Invalid):
            self.mx.splice_sop_text(sop.id, "start", "en", 1000, 0, "x")
        self.mx.submit_sop(sop.id)
        with self.assertRaises(DossierError.FourEyes):
            self.mx.publish_sop(sop.id)

        carry(self.mx, self.bl, self.dir.name)
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
        es_case = self.bl.create_case(
            NewCase(market="ES", category=Category.REFUND, subject="Reembolso no recibido")
        )
        with self.assertRaises(DossierError.SopMarket) as other_market:
            self.bl.record_sop_run(es_case.number, sop.id, ["No"])
        self.assertIn("ES", str(other_market.exception))
        self.assertEqual(self.bl.get_case(es_case.number).sop_runs, [])
        self.assertEqual(
            self.bl.record_sop_run(es_case.number, sop.id, ["No"], any_market=True).end,
            "end_no_debit",
        )
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
        edit = self.mx.splice_article_text(article.id, ArticleField.BODY, "es", 6, 5, "viejo")
        self.assertFalse(edit.redacted)
        edit = self.mx.splice_article_text(article.id, ArticleField.TITLE, "es", 0, 0, "4111 1111 1111 1111 ")
        self.assertTrue(edit.redacted)
        article = self.mx.get_article(article.id)
        self.assertEqual(article.body["es"], "Texto viejo sobre devoluciones.")
        self.assertTrue(article.title["es"].startswith("411111******1111 "))
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

        carry(self.mx, self.bl, self.dir.name)
        self.assertEqual(theirs.kinds(Origin.REMOTE), [DocKind.CASE])
        self.mx.add_note(case.number, "Second contact", False)
        self.bl.pull_from(self.mx)
        self.assertEqual(theirs.kinds(Origin.REMOTE), [DocKind.CASE, DocKind.CASE])

        sub.cancel()
        self.new_case(self.mx)
        self.assertEqual(len(mine.notices), 3)

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

    def test_a_full_store_refuses_writes_with_disk_full_and_keeps_what_it_has(self):
        small = os.path.join(self.dir.name, "small.db")
        store = Store.open(small, OpenOptions(site="MX9", max_file_bytes=512 * 1024))
        stored = []
        with self.assertRaises(DossierError.DiskFull) as full:
            for n in range(500):
                new = NewCase(market="MX-SPEI", category=Category.REFUND, subject=f"Reembolso {n}")
                new.description = os.urandom(6000).hex()
                stored.append(store.create_case(new).number)
        self.assertIn("full", str(full.exception))
        self.assertGreater(len(stored), 3)
        for number in stored:
            self.assertEqual(store.get_case(number).number, number)
        store.shutdown()
        roomy = Store.open(small, OpenOptions(max_file_bytes=8 << 20))
        self.assertEqual(len(roomy.list_cases(CaseFilter())), len(stored))
        roomy.create_case(NewCase(market="MX-SPEI", category=Category.REFUND, subject="again"))

    def test_store_files_are_private_and_card_data_already_stored_is_found_by_place(self):
        db = os.path.join(self.dir.name, "mx1.db")
        for suffix in ("", "-wal"):
            self.assertEqual(os.stat(db + suffix).st_mode & 0o777, 0o600, suffix)
        self.new_case(self.mx, subject="Card 4111 1111 1111 1111 charged twice")
        clean = self.mx.scan_card_data()
        self.assertEqual(clean.findings, [])
        self.assertGreaterEqual(clean.documents, 1)
        self.assertEqual(self.mx.check_integrity(), [])

        # What an old version, or a tool writing SQL by hand, could have left in the file.
        con = sqlite3.connect(db)
        con.execute("INSERT INTO meta(key, value) VALUES ('note', 'card 5555 5555 5555 4444')")
        con.commit()
        con.close()
        scan = self.mx.scan_card_data()
        # In the WAL, and in the database file too once a checkpoint copied the page.
        self.assertGreaterEqual(len(scan.findings), 1, scan.findings)
        for finding in scan.findings:
            self.assertEqual((finding.kind, finding.brand), ("card_number", "mastercard"))
            self.assertTrue(finding.place.is_FILE(), finding.place)
            self.assertGreater(finding.place.offset, 0)
        self.assertNotIn("5555", repr(scan))

        self.mx.shutdown()
        os.chmod(db, 0o666)
        with self.assertRaises(DossierError.InsecureFile) as insecure:
            Store.open(db, OpenOptions())
        self.assertIn("chmod 600", str(insecure.exception))
        os.chmod(db, 0o600)
        self.mx = Store.open(db, OpenOptions())

    def test_a_shut_down_store_refuses_calls_with_closed(self):
        self.mx.shutdown()
        with self.assertRaises(DossierError.Closed):
            self.mx.list_cases(CaseFilter())
        self.mx.shutdown()


class Hub:
    """A real hub: `dossier serve` on a free port of 127.0.0.1, which it reports on stdout."""

    def __init__(self, db):
        self.proc = subprocess.Popen(
            [DOSSIER_CLI, "--db", db, "--json", "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.url = None
        for line in self.proc.stdout:
            found = re.search(r'"listening":\s*"(ws://[^"]+)"', line)
            if found:
                self.url = found.group(1)
                break
        if self.url is None:
            self.stop()
            raise RuntimeError(f"{DOSSIER_CLI} serve did not report its address")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)  # graceful shutdown, as on Ctrl-C
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class HubSync(unittest.TestCase):
    """Two sites sync through a hub: MX1 may read and write everything, BLR2 only IN-UPI cases
    and reads SOPs."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        path = lambda name: os.path.join(self.dir.name, name)
        hub = Store.open(path("hub.db"), OpenOptions(site="HUB"))
        self.mx = Store.open(path("mx1.db"), OpenOptions(site="MX1", author="ana"))
        self.bl = Store.open(path("blr2.db"), OpenOptions(site="BLR2", author="bala"))
        provision(hub, self.mx)
        provision(hub, self.bl, a_grants_b=["IN-UPI/case", "*/sop:ro"])
        self.hub_key = hub.public_key()
        hub.shutdown()  # from here on the file belongs to `dossier serve`
        self.hub = Hub(path("hub.db"))

    def tearDown(self):
        self.hub.stop()
        self.mx.shutdown()
        self.bl.shutdown()
        self.dir.cleanup()

    def new_case(self, store, market="IN-UPI"):
        return store.create_case(NewCase(market=market, category=Category.REFUND, subject="Refund not received"))

    def test_sites_sync_through_the_hub_blocking_and_async_and_listeners_hear_it(self):
        heard = Recorder()
        self.bl.subscribe(heard)
        upi, pix = self.new_case(self.mx), self.new_case(self.mx, market="BR-PIX")

        report = self.mx.sync_with_hub(self.hub.url)
        self.assertEqual((report.peer, report.docs_sent, report.docs_received), ("HUB", 2, 0))
        self.assertTrue(report.completed)
        self.assertEqual(report.rejected, [])
        self.assertGreater(report.bytes_sent, 0)
        self.assertGreater(report.messages_received, 0)

        report = self.bl.sync_with_hub(self.hub.url)
        self.assertEqual(report.docs_received, 1, "BR-PIX is outside BLR2's scopes")
        self.assertEqual(self.bl.get_case(upi.number).subject, "Refund not received")
        with self.assertRaises(DossierError.NotFound):
            self.bl.get_case(pix.number)
        self.assertEqual(heard.kinds(Origin.REMOTE), [DocKind.CASE])
        self.assertIsNotNone(next(p for p in self.bl.peers() if p.site == "HUB").last_sync_at)

        # Concurrent edits, synced from asyncio on one side.
        self.mx.update_case(upi.number, CaseUpdate(status=Status.SOLVED))
        self.bl.update_case(upi.number, CaseUpdate(priority=Priority.URGENT))

        async def both():
            return await self.bl.sync_with_hub_async(self.hub.url)

        self.assertEqual(asyncio.run(both()).docs_sent, 1)
        self.assertEqual(self.mx.sync_with_hub(self.hub.url).docs_received, 1)
        self.assertEqual(asyncio.run(self.bl.sync_with_hub_async(self.hub.url)).docs_received, 1)
        a, b = self.mx.get_case(upi.number), self.bl.get_case(upi.number)
        self.assertEqual(a, b)
        self.assertEqual((a.status, a.priority), (Status.SOLVED, Priority.URGENT))
        self.assertEqual(heard.kinds(Origin.REMOTE), [DocKind.CASE, DocKind.CASE])

    def test_an_edit_to_a_read_only_sop_is_refused_with_a_reason(self):
        with open(SOP_JSON, encoding="utf-8") as f:
            sop = self.mx.import_sop(f.read(), "upi.json")
        self.mx.sync_with_hub(self.hub.url)
        self.bl.sync_with_hub(self.hub.url)
        self.bl.set_sop_text(sop.id, "start", "en", "Edited at a site that may only read SOPs")
        report = self.bl.sync_with_hub(self.hub.url)
        self.assertEqual(len(report.rejected), 1)
        refused = report.rejected[0]
        self.assertEqual((refused.doc, refused.reason, refused.by), (sop.id, RejectCode.READ_ONLY, Side.PEER))
        self.assertIn("read-only", refused.message)
        self.mx.sync_with_hub(self.hub.url)
        start = next(n for n in self.mx.get_sop(sop.id).nodes if n.id == "start")
        self.assertNotIn("Edited at a site", start.text["en"])

    def test_refused_and_failed_sessions_are_typed_errors(self):
        stranger = Store.open(os.path.join(self.dir.name, "sp3.db"), OpenOptions(site="SP3"))
        stranger.add_peer("HUB", self.hub_key, ["*"])
        with self.assertRaises(DossierError.Auth):
            stranger.sync_with_hub(self.hub.url)  # the hub never provisioned SP3
        impostor = Store.open(os.path.join(self.dir.name, "other-mx1.db"), OpenOptions(site="MX1"))
        impostor.add_peer("HUB", self.hub_key, ["*"])
        with self.assertRaises(DossierError.Auth):
            impostor.sync_with_hub(self.hub.url)  # MX1's name, another key
        stranger.shutdown()
        impostor.shutdown()

        self.mx.remove_peer("HUB")
        with self.assertRaises(DossierError.Auth):
            self.mx.sync_with_hub(self.hub.url)  # this side no longer knows the hub
        with self.assertRaises(DossierError.Invalid):
            self.mx.sync_with_hub("http://127.0.0.1:1")
        with self.assertRaises(DossierError.Network):
            self.mx.sync_with_hub("ws://127.0.0.1:9")
        with self.assertRaises(DossierError.Network):
            asyncio.run(self.mx.sync_with_hub_async("ws://127.0.0.1:9"))
        self.mx.shutdown()
        with self.assertRaises(DossierError.Closed):
            self.mx.sync_with_hub(self.hub.url)


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


class Plugins(unittest.TestCase):
    """The example plugin `in-upi-failed-txn` (built by `cargo xtask bindings`, `DOSSIER_PLUGIN_WASM`)."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.store = Store.open(os.path.join(self.dir.name, "blr2.db"), OpenOptions(site="BLR2"))
        with open(PLUGIN_WASM, "rb") as f:
            self.wasm = f.read()

    def tearDown(self):
        self.store.shutdown()
        self.dir.cleanup()

    def failed_upi_payment(self):
        debit = (datetime.date.today() - datetime.timedelta(days=21)).isoformat()
        return self.store.create_case(
            NewCase(
                market="IN-UPI",
                category=Category.FAILED_PAYMENT,
                subject="Paid a merchant, money debited, order not confirmed",
                fields={"txn_type": "p2m", "debit_date": debit},
            )
        )

    def publisher_key(self):
        """A publisher key made by `dossier plugin keygen`: (secret text form, public key)."""
        path = os.path.join(self.dir.name, "publisher.key")
        out = subprocess.run(
            [DOSSIER_CLI, "--json", "plugin", "keygen", "--out", path],
            check=True, capture_output=True, text=True,
        ).stdout
        with open(path) as f:
            return f.read().strip(), json.loads(out)["public_key"]

    def test_an_installed_plugin_sets_the_reversal_deadline_and_refuses_a_solve_without_the_rrn(self):
        info = self.store.install_plugin(self.wasm, [], None)
        self.assertEqual(info.name, "in-upi-failed-txn")
        self.assertEqual(info.markets, ["IN-UPI"])
        self.assertIn(Trigger.BEFORE_SOLVE, info.triggers)
        self.assertEqual(info.publisher, self.store.public_key())  # signed with the site key
        self.assertTrue(info.signature_ok and info.trusted and info.active)
        self.assertEqual(self.store.install_plugin(self.wasm, [], None).id, info.id)
        self.assertEqual([p.id for p in self.store.plugins()], [info.id])

        case = self.store.get_case(self.failed_upi_payment().number)
        self.assertIn("reversal", case.sla)  # T+5 for a P2M payment, set by the plugin
        self.assertIn("missing-payment-txn-ref", case.tags)
        self.store.update_case(case.number, CaseUpdate(status=Status.OPEN))
        with self.assertRaises(DossierError.SolveRefused) as refused:
            self.store.update_case(case.number, CaseUpdate(status=Status.SOLVED))
        self.assertIn("in-upi-failed-txn", str(refused.exception))
        self.assertEqual(self.store.get_case(case.number).status, Status.OPEN)

    def test_a_dry_run_shows_actions_and_changes_nothing_and_trust_decides_what_runs(self):
        secret, public = self.publisher_key()
        info = self.store.install_plugin(self.wasm, ["IN-UPI"], secret)
        self.assertEqual(info.publisher, public)
        self.assertFalse(info.trusted or info.active)
        case = self.failed_upi_payment()
        self.assertNotIn("reversal", case.sla)  # its publisher is not trusted yet
        with self.assertRaises(DossierError.Invalid):
            self.store.dry_run_plugin(info.name, case.number, Trigger.CASE_UPDATED)

        self.store.trust_publisher(public)
        self.assertTrue(self.store.plugins()[0].active)
        run = self.store.dry_run_plugin(info.name, case.number, Trigger.CASE_UPDATED)
        self.assertEqual((run.plugin, run.version, run.trigger), (info.name, info.version, Trigger.CASE_UPDATED))
        self.assertIsNone(run.invalid)
        deadlines = [a.metric for a in run.actions if a.is_SET_SLA_DEADLINE()]
        self.assertEqual(deadlines, ["reversal"])
        required = [a.name for a in run.actions if a.is_REQUIRE_FIELD()]
        self.assertIn("payment.txn-ref", required)
        self.assertNotIn("reversal", self.store.get_case(case.number).sla)  # nothing applied

        self.store.untrust_publisher(public)
        self.assertFalse(self.store.plugins()[0].active)
        with self.assertRaises(DossierError.Invalid):
            self.store.trust_publisher("not a key")

    def test_a_file_that_is_not_a_plugin_component_is_refused_with_a_clear_error(self):
        for junk in (b"definitely not wasm", b"\0asm\x01\0\0\0"):  # text, a core module
            with self.assertRaises(DossierError.PluginIncompatible) as e:
                self.store.install_plugin(junk, [], None)
            self.assertIn("not a plugin component", str(e.exception))
        with self.assertRaises(DossierError.Invalid):
            self.store.install_plugin(self.wasm, [], "dossier-publisher-key:nope")
        self.assertEqual(self.store.plugins(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
