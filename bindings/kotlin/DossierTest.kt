// The Kotlin binding, exercised the way an Android or JVM host app uses it.
//
// Two sites work offline, merge through change packs (blocking and as a coroutine), and must
// end up identical; bad input must come back as typed DossierExceptions, never a crash; one
// store must take writes and reads from many threads at once without losing anything.
// `cargo xtask test` compiles this file with kotlinc together with the generated bindings and
// runs it on Java 17 with JNA; no test framework is needed, so none is downloaded.

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

class Sites : AutoCloseable {
    val dir: File = Files.createTempDirectory("dossier-kt").toFile()
    val mx = Store.open(File(dir, "mx1.db").path, OpenOptions(site = "MX1", author = "ana"))
    val bl = Store.open(File(dir, "blr2.db").path, OpenOptions(site = "BLR2", author = "bala"))

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
    s.merge(s.bl, s.mx)
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

fun main() {
    val tests = listOf(
        ::`a case is created edited and listed with card numbers masked`,
        ::`two sites merge via change packs and converge`,
        ::`the coroutine merge suspends instead of blocking and converges`,
        ::`an sop is imported merged published with four eyes and walked`,
        ::`article search folds accents`,
        ::`listeners hear local writes and merged changes until cancelled`,
        ::`bad input comes back as typed exceptions`,
        ::`one store hammered by writer and reader threads loses nothing`,
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
