// The Kotlin binding, exercised the way an Android or JVM host app uses it.
//
// Two sites work offline, provision each other's keys, merge through signed bundle files and
// change packs (blocking and as a coroutine), and must end up identical; two sites sync through a
// real hub (`dossier serve`) with the coroutine API; bad input and a tampered bundle must come
// back as typed DossierExceptions, never a crash; one store must take writes and reads from many
// threads at once without losing anything. `cargo xtask test` compiles this file with kotlinc
// together with the generated bindings and runs it on Java 17 with JNA (-Ddossier.sop, and
// -Ddossier.cli for the `dossier` command that serves the hub); no test framework is needed, so
// none is downloaded.

import dev.dossier.*
import java.io.File
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking

class Check(message: String) : AssertionError(message)

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw Check(what())
}

fun <T> eq(actual: T, expected: T) = check(actual == expected) { "expected <$expected> but was <$actual>" }

inline fun <reified E : Throwable> raises(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw Check("expected ${E::class.simpleName} but got $e")
    }
    throw Check("expected ${E::class.simpleName} but nothing was thrown")
}

class Recorder : ChangeListener {
    val notices: MutableList<ChangeNotice> = Collections.synchronizedList(mutableListOf())
    override fun onChange(notice: ChangeNotice) {
        notices.add(notice)
    }
    fun kinds(origin: Origin) = synchronized(notices) {
        notices.filter { it.origin == origin }.flatMap { n -> n.docs.map { it.kind } }
    }
}

val sopJson: String = File(System.getProperty("dossier.sop") ?: error("set -Ddossier.sop")).readText()
val dossierCli: String = System.getProperty("dossier.cli") ?: "target/debug/dossier"
val pluginWasm: String = System.getProperty("dossier.plugin")
    ?: "target/wasm-plugins/wasm32-wasip2/release/in_upi_failed_txn.wasm"

/** Each store provisions the other by its public key, with the scopes it grants it. */
fun provision(a: Store, b: Store, aGrantsB: List<String> = listOf("*"), bGrantsA: List<String> = listOf("*")) {
    a.addPeer(b.site(), b.publicKey(), aGrantsB)
    b.addPeer(a.site(), a.publicKey(), bGrantsA)
}

/** A real hub: `dossier serve` on a free port of 127.0.0.1, which it reports on stdout. */
class Hub(db: File) : AutoCloseable {
    private val process: Process = ProcessBuilder(dossierCli, "--db", db.path, "--json", "serve", "--listen", "127.0.0.1:0")
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start()
    val url: String = process.inputStream.bufferedReader().let { out ->
        val pattern = Regex("\"listening\":\\s*\"(ws://[^\"]+)\"")
        generateSequence { out.readLine() }.firstNotNullOfOrNull { pattern.find(it)?.groupValues?.get(1) }
            ?: run { process.destroyForcibly(); error("$dossierCli serve did not report its address") }
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }
}

class Sites : AutoCloseable {
    val dir: File = Files.createTempDirectory("dossier-kt").toFile()
    val mx = Store.open(File(dir, "mx1.db").path, OpenOptions(site = "MX1", author = "ana"))
    val bl = Store.open(File(dir, "blr2.db").path, OpenOptions(site = "BLR2", author = "bala"))

    init {
        provision(mx, bl)
    }

    /** Merge via a signed bundle file: what `into` lacks, written by `source`, imported by `into`. */
    fun carry(source: Store, into: Store): BundleReport {
        val file = File(dir, "${source.site()}-for-${into.site()}.bundle")
        source.exportBundle(file.path, into.site())
        return into.importBundle(file.path)
    }

    fun newCase(store: Store, subject: String = "Money debited, not credited", payment: Payment? = null) =
        store.createCase(NewCase(market = "IN-UPI", category = Category.FAILED_PAYMENT, subject = subject, payment = payment))

    /** Merge via change packs by hand: for every document of `source`, pack what `into` lacks. */
    fun merge(into: Store, source: Store): Long {
        val mine = into.documents().map { it.id }.toSet()
        return source.documents().sumOf { doc ->
            val heads = if (doc.id in mine) into.heads(doc.id) else emptyList()
            into.applyChanges(source.changesSince(doc.id, heads)).newChanges.toLong()
        }
    }

    override fun close() {
        mx.close()
        bl.close()
        dir.deleteRecursively()
    }
}

fun `a case is created edited and listed with card numbers masked`() = Sites().use { s ->
    var case = s.newCase(s.mx, "Debited twice, card 4111 1111 1111 1111",
        Payment(rail = "upi", txnRef = "412345678901", amountMinor = 49900, currency = "INR"))
    eq(case.number, "MX1-1")
    eq(case.subject, "Debited twice, card 411111******1111")
    eq(case.payment.txnRef, "412345678901")
    case = s.mx.updateCase(case.number, CaseUpdate(status = Status.OPEN, priority = Priority.HIGH,
        assignee = "ana", addTags = listOf("p2m"), setFields = mapOf("rrn" to "412345678901")))
    eq(Triple(case.status, case.priority, case.assignee), Triple(Status.OPEN, Priority.HIGH, "ana"))
    eq(case.fields["rrn"], "412345678901")
    case = s.mx.addNote(case.number, "Customer sent the bank statement", false)
    check(case.events.any { it.kind == "note" }) { "no note event" }
    case = s.mx.escalate(case.number, "psp_bank", "T+5 passed")
    eq(case.escalations.single().to, "psp_bank")
    case = s.mx.setSla(case.number, "resolution", 4_102_444_800_000)
    eq(case.slaDueAt, 4_102_444_800_000)
    // One call, one change: a status, a note, an escalation and an SLA deadline together.
    val changes = s.mx.history(case.id).size
    case = s.mx.updateCase(case.number, CaseUpdate(priority = Priority.URGENT,
        note = "Asked the customer for the UTR", escalateTo = "risk", escalationReason = "second debit",
        slaDue = mapOf("first_reply" to 4_102_444_800_000)))
    eq(s.mx.history(case.id).size, changes + 1)
    eq(case.escalations.map { it.to }, listOf("psp_bank", "risk"))
    eq(case.events.last().kind, "note")
    eq(case.sla["first_reply"]?.dueAt, 4_102_444_800_000)
    s.newCase(s.mx, "Another one")
    eq(s.mx.listCases(CaseFilter()).size, 2)
    eq(s.mx.listCases(CaseFilter(status = Status.OPEN, tag = "p2m")).map { it.number }, listOf("MX1-1"))
    val history = s.mx.history(case.id)
    eq(history.first().action, "case.create")
    eq(s.mx.caseAt(case.number, history.first().heads).status, Status.NEW)
}

fun `two sites merge via change packs and converge`() = Sites().use { s ->
    val case = s.newCase(s.mx)
    check(s.merge(s.bl, s.mx) > 0) { "nothing merged" }
    eq(s.merge(s.bl, s.mx), 0L)
    s.mx.updateCase(case.number, CaseUpdate(status = Status.SOLVED))
    s.bl.updateCase(case.number, CaseUpdate(priority = Priority.URGENT, assignee = "bala"))
    eq(s.mx.pullFrom(s.bl).documentsUpdated, 1uL)
    eq(s.bl.pullFrom(s.mx).documentsUpdated, 1uL)
    val (a, b) = s.mx.getCase(case.number) to s.bl.getCase(case.number)
    eq(a, b)
    eq(Triple(a.status, a.priority, a.assignee), Triple(Status.SOLVED, Priority.URGENT, "bala"))
}

fun `two sites merge via bundle files and a tampered bundle changes nothing`() = Sites().use { s ->
    val case = s.newCase(s.mx)
    val report = s.carry(s.mx, s.bl)
    eq(Triple(report.fromSite, report.docsUpdated, report.rejected), Triple("MX1", 1uL, emptyList<Rejection>()))
    eq(s.bl.importBundle(File(s.dir, "MX1-for-BLR2.bundle").path).newChanges, 0uL)
    s.mx.updateCase(case.number, CaseUpdate(status = Status.SOLVED))
    s.bl.updateCase(case.number, CaseUpdate(priority = Priority.URGENT))
    eq(s.carry(s.bl, s.mx).docsUpdated, 1uL)
    eq(s.carry(s.mx, s.bl).docsUpdated, 1uL)
    eq(s.mx.getCase(case.number), s.bl.getCase(case.number))
    eq(s.bl.peers().map { it.site to it.publicKey }, listOf("MX1" to s.mx.publicKey()))

    s.newCase(s.mx, "Second case, not yet at BLR2")
    val file = File(s.dir, "tampered.bundle")
    s.mx.exportBundle(file.path, "BLR2")
    val bytes = file.readBytes()
    bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 0x55).toByte()
    file.writeBytes(bytes)
    val before = s.bl.documents()
    val refused = raises<DossierException.Auth> { s.bl.importBundle(file.path) }
    check(refused.message!!.contains("signature")) { "message: ${refused.message}" }
    eq(s.bl.documents(), before)
    file.writeBytes(bytes.copyOf(bytes.size / 3))
    raises<DossierException.SyncFailed> { s.bl.importBundle(file.path) }
    raises<DossierException.NotFound> { s.mx.exportBundle(file.path, "SP3") }
    raises<DossierException.Invalid> { s.mx.addPeer("SP3", "not-a-key", listOf("*")) }
}

fun `sites sync through a real hub with the coroutine api`() = Sites().use { s ->
    val hubStore = Store.open(File(s.dir, "hub.db").path, OpenOptions(site = "HUB"))
    provision(hubStore, s.mx)
    provision(hubStore, s.bl, aGrantsB = listOf("IN-UPI/case"))
    hubStore.close() // from here on the file belongs to `dossier serve`
    Hub(File(s.dir, "hub.db")).use { hub ->
        val heard = Recorder()
        s.bl.subscribe(heard)
        val upi = s.newCase(s.mx)
        val pix = s.mx.createCase(NewCase(market = "BR-PIX", category = Category.REFUND, subject = "Pix refund"))
        runBlocking {
            val sent = s.mx.syncWithHubAsync(hub.url)
            eq(Triple(sent.peer, sent.docsSent, sent.completed), Triple("HUB", 2uL, true))
            val got = s.bl.syncWithHubAsync(hub.url)
            eq(got.docsReceived, 1uL)
        }
        eq(s.bl.getCase(upi.number).id, upi.id)
        raises<DossierException.NotFound> { s.bl.getCase(pix.number) }
        eq(heard.kinds(Origin.REMOTE), listOf(DocKind.CASE))

        s.mx.updateCase(upi.number, CaseUpdate(status = Status.SOLVED))
        s.bl.updateCase(upi.number, CaseUpdate(priority = Priority.URGENT))
        runBlocking {
            // Both sites at once, each as a coroutine; then once more so each gets the other's edit.
            listOf(async { s.mx.syncWithHubAsync(hub.url) }, async { s.bl.syncWithHubAsync(hub.url) }).awaitAll()
            listOf(async { s.mx.syncWithHubAsync(hub.url) }, async { s.bl.syncWithHubAsync(hub.url) }).awaitAll()
        }
        val (a, b) = s.mx.getCase(upi.number) to s.bl.getCase(upi.number)
        eq(a, b)
        eq(a.status to a.priority, Status.SOLVED to Priority.URGENT)
        eq(s.mx.syncWithHub(hub.url).rejected, emptyList<Rejection>())

        val stranger = Store.open(File(s.dir, "sp3.db").path, OpenOptions(site = "SP3"))
        stranger.addPeer("HUB", s.mx.peers().first { it.site == "HUB" }.publicKey, listOf("*"))
        runBlocking { raises<DossierException.Auth> { stranger.syncWithHubAsync(hub.url) } }
        stranger.close()
        runBlocking { raises<DossierException.Network> { s.mx.syncWithHubAsync("ws://127.0.0.1:9") } }
        raises<DossierException.Invalid> { s.mx.syncWithHub("http://127.0.0.1:9") }
    }
}

fun `the coroutine merge suspends instead of blocking and converges`() = Sites().use { s ->
    repeat(3) { s.newCase(s.mx) }
    s.newCase(s.bl)
    runBlocking {
        val reports = listOf(async { s.bl.pullFromAsync(s.mx) }, async { s.mx.pullFromAsync(s.bl) }).awaitAll()
        eq(reports.map { it.documentsUpdated }, listOf(3uL, 1uL))
    }
    eq(s.mx.listCases(CaseFilter()).size, 4)
    eq(s.bl.listCases(CaseFilter()).size, 4)
}

fun `an sop is imported merged published with four eyes and walked`() = Sites().use { s ->
    var sop = s.mx.importSop(sopJson, "upi.json")
    eq(sop.status, SopStatus.DRAFT)
    eq(s.mx.validateSop(sop.id), emptyList<Violation>())
    sop = s.mx.setSopText(sop.id, "start", "en", "Was the customer's bank account debited?")
    eq(sop.nodes.first { it.id == "start" }.text["en"], "Was the customer's bank account debited?")
    s.mx.submitSop(sop.id)
    raises<DossierException.FourEyes> { s.mx.publishSop(sop.id) }
    s.carry(s.mx, s.bl)
    eq(s.bl.publishSop(sop.id).status, SopStatus.PUBLISHED)
    val walk = s.bl.walkSop(sop.id, null, listOf("Yes", "P2M", "days_since_txn=9"))
    eq(walk.version, 1L)
    eq(walk.result.end, "end_escalated")
    eq(walk.result.actions.map { it.action.kind }, listOf("require_field", "escalate"))
    val case = s.newCase(s.bl)
    eq(s.bl.recordSopRun(case.number, sop.id, listOf("No")).end, "end_no_debit")
    eq(s.bl.getCase(case.number).sopRuns.single().outcome, "success")
}

fun `article search folds accents`() = Sites().use { s ->
    val article = s.mx.createArticle(NewArticle(
        title = mapOf("es" to "Reembolsó pendiente"),
        body = mapOf("es" to "Cuándo llega un reembolso por Bizum o tarjeta."),
        markets = listOf("ES")))
    eq(s.mx.searchArticles("reembolso", null, 10u).map { it.id }, listOf(article.id))
    eq(s.mx.searchArticles("cuando", "es", 10u).single().title, "Reembolsó pendiente")
    eq(s.mx.setArticleStatus(article.id, ArticleStatus.PUBLISHED).versions.size, 1)
}

fun `listeners hear local writes and merged changes until cancelled`() = Sites().use { s ->
    val mine = Recorder()
    val theirs = Recorder()
    val sub = s.mx.subscribe(mine)
    s.bl.subscribe(theirs)
    val case = s.newCase(s.mx)
    s.mx.addNote(case.number, "First contact", false)
    eq(mine.kinds(Origin.LOCAL), listOf(DocKind.CASE, DocKind.CASE))
    s.bl.pullFrom(s.mx)
    eq(theirs.kinds(Origin.REMOTE), listOf(DocKind.CASE))
    sub.cancel()
    s.newCase(s.mx)
    eq(mine.notices.size, 2)
    val lambdaHeard = Collections.synchronizedList(mutableListOf<Origin>())
    val lambdaSub = s.mx.subscribe { notice -> lambdaHeard.add(notice.origin) }
    s.newCase(s.mx)
    lambdaSub.cancel()
    eq(lambdaHeard.toList(), listOf(Origin.LOCAL))
    s.mx.subscribe(object : ChangeListener {
        override fun onChange(notice: ChangeNotice) = throw IllegalStateException("listener bug")
    })
    eq(s.newCase(s.mx).number, "MX1-4")
}

fun `bad input comes back as typed exceptions`() = Sites().use { s ->
    val case = s.newCase(s.mx)
    s.mx.updateCase(case.number, CaseUpdate(status = Status.CLOSED))
    val closed = raises<DossierException.CaseClosed> { s.mx.updateCase(case.number, CaseUpdate(priority = Priority.LOW)) }
    check(closed.message!!.contains(case.number)) { "message does not name the case" }
    raises<DossierException.Invalid> {
        s.mx.createCase(NewCase(market = "india upi", category = Category.OTHER, subject = "x"))
    }
    raises<DossierException.Import> { s.mx.importSop("""{"title": "x", "nodes": [}""", "broken.json") }
    raises<DossierException.Rejected> { s.mx.applyChanges("garbage, not a change pack".toByteArray()) }
    raises<DossierException.NotFound> { s.mx.getCase("MX1-999") }
    raises<DossierException.WrongKind> { s.mx.getSop(case.id) }
    raises<DossierException.SiteMismatch> { Store.open(File(s.dir, "mx1.db").path, OpenOptions(site = "SP3")) }
    val any: DossierException = raises<DossierException> { s.mx.getSop("not-an-id") }
    check(any is DossierException.Invalid) { "a bad id is Invalid, got $any" }
    s.mx.shutdown()
    raises<DossierException.Closed> { s.mx.listCases(CaseFilter()) }
}

fun `store files are private, a store others can write is refused, and the card data scan is clean`() = Sites().use { s ->
    val db = File(s.dir, "mx1.db").toPath()
    eq(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(db)), "rw-------")
    s.newCase(s.mx, subject = "Card 4111 1111 1111 1111 charged twice")
    val scan = s.mx.scanCardData()
    eq(scan.findings, emptyList<CardDataFinding>())
    check(scan.documents >= 1uL && scan.fileBytes > 0uL) { "scanned nothing: $scan" }
    eq(s.mx.checkIntegrity(), emptyList<String>())
    s.mx.shutdown()
    Files.setPosixFilePermissions(db, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"))
    val insecure = raises<DossierException.InsecureFile> { Store.open(db.toString(), OpenOptions()) }
    check(insecure.message!!.contains("chmod 600")) { "no advice in: ${insecure.message}" }
}

fun `one store hammered by writer and reader threads loses nothing`() {
    val dir = Files.createTempDirectory("dossier-kt-threads").toFile()
    Store.open(File(dir, "busy.db").path, OpenOptions(site = "MX1")).use { store ->
        val heard = Recorder()
        store.subscribe(heard)
        val writers = 4
        val perWriter = 25
        val errors = Collections.synchronizedList(mutableListOf<Throwable>())
        val created = Collections.synchronizedList(mutableListOf<String>())
        val writing = AtomicBoolean(true)
        val readerThreads = (1..4).map {
            thread {
                try {
                    while (writing.get()) {
                        for (row in store.listCases(CaseFilter(limit = 20u))) {
                            eq(store.getCase(row.number).number, row.number)
                        }
                    }
                } catch (e: Throwable) {
                    errors.add(e)
                }
            }
        }
        val writerThreads = (0 until writers).map { i ->
            thread {
                try {
                    repeat(perWriter) { n ->
                        val case = store.createCase(NewCase(market = "BR-PIX", category = Category.REFUND, subject = "writer $i case $n"))
                        store.addNote(case.number, "note from writer $i", false)
                        created.add(case.number)
                    }
                } catch (e: Throwable) {
                    errors.add(e)
                }
            }
        }
        writerThreads.forEach { it.join() }
        writing.set(false)
        readerThreads.forEach { it.join() }
        eq(errors.toList(), emptyList<Throwable>())
        val total = writers * perWriter
        eq(created.toSet().size, total)
        eq(store.listCases(CaseFilter(limit = 10_000u)).map { it.number }.sorted(), created.sorted())
        for (number in created) eq(store.getCase(number).events.count { it.kind == "note" }, 1)
        eq(heard.notices.size, 2 * total)
    }
    dir.deleteRecursively()
}

fun `an installed plugin sets the reversal deadline and refuses a solve without the rrn`() = Sites().use { s ->
    val info = s.bl.installPlugin(File(pluginWasm).readBytes(), emptyList(), null)
    eq(info.name, "in-upi-failed-txn")
    check(info.active && info.triggers.contains(Trigger.BEFORE_SOLVE)) { "not active: $info" }
    eq(s.bl.plugins().map { it.id }, listOf(info.id))
    val debit = java.time.LocalDate.now().minusDays(21).toString()
    val case = s.bl.createCase(NewCase(market = "IN-UPI", category = Category.FAILED_PAYMENT,
        subject = "Paid a merchant, debited, not confirmed",
        fields = mapOf("txn_type" to "p2m", "debit_date" to debit)))
    check("reversal" in s.bl.getCase(case.number).sla) { "no reversal SLA" }
    s.bl.updateCase(case.number, CaseUpdate(status = Status.OPEN))
    val refused = raises<DossierException.SolveRefused> {
        s.bl.updateCase(case.number, CaseUpdate(status = Status.SOLVED))
    }
    check(refused.message!!.contains("in-upi-failed-txn")) { "${refused.message}" }
    raises<DossierException.PluginIncompatible> { s.bl.installPlugin("not wasm".toByteArray(), emptyList(), null) }
}

fun main() {
    val tests = listOf(
        ::`a case is created edited and listed with card numbers masked`,
        ::`two sites merge via change packs and converge`,
        ::`two sites merge via bundle files and a tampered bundle changes nothing`,
        ::`sites sync through a real hub with the coroutine api`,
        ::`the coroutine merge suspends instead of blocking and converges`,
        ::`an sop is imported merged published with four eyes and walked`,
        ::`article search folds accents`,
        ::`listeners hear local writes and merged changes until cancelled`,
        ::`bad input comes back as typed exceptions`,
        ::`store files are private, a store others can write is refused, and the card data scan is clean`,
        ::`one store hammered by writer and reader threads loses nothing`,
        ::`an installed plugin sets the reversal deadline and refuses a solve without the rrn`,
    )
    var failed = 0
    for (test in tests) {
        try {
            test()
            println("ok   ${test.name}")
        } catch (e: Throwable) {
            failed++
            println("FAIL ${test.name}: $e")
            e.printStackTrace()
        }
    }
    println("kotlin: ${tests.size - failed} passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
