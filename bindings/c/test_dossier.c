/* The C ABI, exercised the way a desktop host uses it, under valgrind.
 *
 * Two sites work offline and merge through change packs; they provision each other's public
 * keys and carry a signed bundle file, and a tampered or truncated bundle must be refused with a
 * status code and a message and change nothing; an SOP is imported, published with four eyes
 * and walked; articles are searched with accents folded; bad input (NULL, malformed JSON, a
 * garbage change pack, a closed case, a bad hub address) must come back as a status code and a
 * message, never a crash. Every returned string and buffer is freed, so valgrind's leak check is exact.
 * `cargo xtask test` compiles this with gcc against ffi/include/dossier.h and runs it with
 * `valgrind --leak-check=full --error-exitcode=1`.
 *
 * With a plugin component (the example `in-upi-failed-txn`), it is installed, listed and
 * dry-run on a case, and a case opened afterwards gets the plugin's reversal deadline.
 *
 * usage: test_dossier DIR SOP_JSON_FILE [PLUGIN_WASM_FILE]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dossier.h"

static int passed = 0, failed = 0;

#define CHECK(cond, what)                                                       \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__,      \
                    __LINE__, what,                                             \
                    dossier_last_error() ? dossier_last_error() : "none");      \
        }                                                                       \
    } while (0)

#define OK(call) CHECK((call) == DOSSIER_STATUS_OK, #call)

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

/* Copies the JSON string value of the first `"key":"` in `json` (enough for ids and numbers). */
static void json_field(const char *json, const char *key, char *out, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    out[0] = '\0';
    const char *start = json ? strstr(json, pattern) : NULL;
    if (start == NULL) return;
    start += strlen(pattern);
    size_t n = 0;
    while (start[n] != '"' && start[n] != '\0' && n + 1 < cap) {
        out[n] = start[n];
        n++;
    }
    out[n] = '\0';
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    size_t got = fread(buf, 1, (size_t)len, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static unsigned char *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    *len = fread(buf, 1, (size_t)size, f);
    fclose(f);
    return buf;
}

static void write_bytes(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(buf, 1, len, f);
    fclose(f);
}

/* Merge via change packs: for every document of `from`, pack what `into` lacks and apply it. */
static void merge(DossierStore *into, DossierStore *from) {
    char *docs = NULL;
    OK(dossier_documents(from, &docs));
    const char *cursor = docs;
    char id[64];
    while (cursor != NULL && (cursor = strstr(cursor, "\"id\":\"")) != NULL) {
        json_field(cursor, "id", id, sizeof id);
        cursor += 6;
        char *heads = NULL;
        DossierStatus known = dossier_heads(into, id, &heads);
        CHECK(known == DOSSIER_STATUS_OK || known == DOSSIER_STATUS_NOT_FOUND, "heads");
        uint8_t *pack = NULL;
        size_t len = 0;
        OK(dossier_changes_since(from, id, heads, &pack, &len));
        char *applied = NULL;
        OK(dossier_apply_changes(into, pack, len, &applied));
        CHECK(contains(applied, "\"new_changes\""), "apply reports new changes");
        dossier_string_free(applied);
        dossier_bytes_free(pack, len);
        dossier_string_free(heads);
    }
    dossier_string_free(docs);
}

static void cases_and_merge(DossierStore *mx, DossierStore *bl) {
    char *json = NULL;
    OK(dossier_case_create(mx,
        "{\"market\":\"IN-UPI\",\"category\":\"failed_payment\","
        "\"subject\":\"Debited twice, card 4111 1111 1111 1111\","
        "\"payment\":{\"rail\":\"upi\",\"txn_ref\":\"412345678901\"}}", &json));
    CHECK(contains(json, "\"number\":\"MX1-1\""), "first case is MX1-1");
    CHECK(contains(json, "411111******1111") && !contains(json, "4111 1111 1111 1111"),
          "card number masked");
    CHECK(contains(json, "412345678901"), "UPI reference kept");
    dossier_string_free(json);

    OK(dossier_case_update(mx, "MX1-1",
        "{\"status\":\"open\",\"priority\":\"high\",\"add_tags\":[\"upi\"]}", &json));
    CHECK(contains(json, "\"status\":\"open\"") && contains(json, "\"upi\""), "update applied");
    dossier_string_free(json);
    OK(dossier_case_note(mx, "MX1-1", "Customer sent the statement", false, &json));
    CHECK(contains(json, "Customer sent the statement"), "note stored");
    dossier_string_free(json);

    OK(dossier_case_list(mx, "{\"status\":\"open\",\"tag\":\"upi\"}", &json));
    CHECK(contains(json, "MX1-1"), "filtered list finds the case");
    dossier_string_free(json);
    OK(dossier_case_list(mx, "{\"status\":\"closed\"}", &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0, "no closed cases");
    dossier_string_free(json);

    merge(bl, mx);
    OK(dossier_case_update(mx, "MX1-1", "{\"status\":\"solved\"}", &json));
    dossier_string_free(json);
    OK(dossier_case_update(bl, "MX1-1", "{\"priority\":\"urgent\"}", &json));
    dossier_string_free(json);
    uint64_t updated = 0;
    OK(dossier_pull_from(mx, bl, &updated));
    CHECK(updated == 1, "one document merged into MX1");
    OK(dossier_pull_from(bl, mx, &updated));
    CHECK(updated == 1, "one document merged into BLR2");

    char *a = NULL, *b = NULL;
    OK(dossier_case_get(mx, "MX1-1", &a));
    OK(dossier_case_get(bl, "MX1-1", &b));
    CHECK(a != NULL && b != NULL && strcmp(a, b) == 0, "both sites see the same case");
    CHECK(contains(a, "\"status\":\"solved\"") && contains(a, "\"priority\":\"urgent\""),
          "status by rank, priority by maximum");
    dossier_string_free(a);
    dossier_string_free(b);
}

static void sop_lifecycle(DossierStore *lead, DossierStore *approver, const char *sop_json) {
    char *json = NULL, id[64];
    OK(dossier_sop_import(lead, sop_json, &json));
    json_field(json, "id", id, sizeof id);
    CHECK(strlen(id) > 0, "imported sop has an id");
    dossier_string_free(json);

    /* One keystroke: splice at a character position; the answer is the new length, not the SOP. */
    OK(dossier_sop_splice(lead, id, "start", "en", 0, 0, "So: ", &json));
    CHECK(contains(json, "\"length\":39") && contains(json, "\"redacted\":false"),
          "a splice answers with the new length");
    dossier_string_free(json);
    OK(dossier_sop_splice(lead, id, "start", "en", 0, 4, "", &json));
    dossier_string_free(json);
    CHECK(dossier_sop_splice(lead, id, "start", "en", 1000, 0, "x", &json) == DOSSIER_STATUS_INVALID,
          "a splice past the end is refused");
    CHECK(json == NULL, "no output after a failure");

    OK(dossier_sop_validate(lead, id, &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0, "sample sop is valid");
    dossier_string_free(json);
    OK(dossier_sop_submit(lead, id, &json));
    dossier_string_free(json);
    CHECK(dossier_sop_publish(lead, id, &json) == DOSSIER_STATUS_FOUR_EYES, "author cannot approve");
    CHECK(json == NULL, "no output after a failure");
    CHECK(contains(dossier_last_error(), "four-eyes"), "four-eyes message");
    OK(dossier_sop_publish(approver, id, &json));
    CHECK(contains(json, "\"status\":\"published\""), "published by another person");
    dossier_string_free(json);

    OK(dossier_sop_walk(approver, id, "[\"Yes\", \"P2M\", \"days_since_txn=9\"]", &json));
    CHECK(contains(json, "\"end\":\"end_escalated\"") && contains(json, "\"version\":1"),
          "walk reaches the escalation");
    dossier_string_free(json);
    CHECK(dossier_sop_walk(approver, id, "[\"Maybe\"]", &json) == DOSSIER_STATUS_WALK,
          "an unknown answer is a walk error");
}

static void articles(DossierStore *store) {
    char *json = NULL;
    OK(dossier_article_create(store,
        "{\"title\":{\"es\":\"Reembols\xc3\xb3 pendiente\"},"
        "\"body\":{\"es\":\"Cu\xc3\xa1ndo llega un reembolso.\"},\"markets\":[\"ES\"]}", &json));
    {
        char id[64];
        json_field(json, "id", id, sizeof id);
        dossier_string_free(json);
        OK(dossier_article_splice(store, id, "body", "es", 0, 0, "4111 1111 1111 1111 ", &json));
        CHECK(contains(json, "\"redacted\":true"), "a card number typed into a body is masked");
        dossier_string_free(json);
        CHECK(dossier_article_splice(store, id, "summary", "es", 0, 0, "x", &json)
                  == DOSSIER_STATUS_INVALID, "an unknown article field is refused");
    }
    OK(dossier_article_search(store, "reembolso", NULL, 10, &json));
    CHECK(contains(json, "Reembols\xc3\xb3 pendiente"), "reembolso finds Reembolso with accent");
    dossier_string_free(json);
    OK(dossier_article_search(store, "cuando", "es", 10, &json));
    CHECK(contains(json, "\"locale\":\"es\""), "accent-free query matches accented body");
    dossier_string_free(json);
}

/* Sites with no network: provision each other's keys, carry a signed bundle file. A tampered or
 * truncated file is refused whole: a status, a message, and nothing stored. */
static void bundles(DossierStore *mx, DossierStore *bl, const char *dir) {
    char *mx_key = NULL, *bl_key = NULL, *json = NULL, number[32];
    OK(dossier_public_key(mx, &mx_key));
    OK(dossier_public_key(bl, &bl_key));
    CHECK(mx_key != NULL && bl_key != NULL && strcmp(mx_key, bl_key) != 0, "two different keys");
    OK(dossier_add_peer(mx, "BLR2", bl_key, "[\"*\"]"));
    OK(dossier_add_peer(bl, "MX1", mx_key, "[\"IN-UPI\", \"*/sop:ro\"]"));
    CHECK(dossier_add_peer(bl, "MX1", "not-a-key", "[\"*\"]") == DOSSIER_STATUS_INVALID, "bad key");
    CHECK(dossier_add_peer(bl, "MX1", mx_key, "[\"india upi\"]") == DOSSIER_STATUS_INVALID,
          "bad scope");
    CHECK(dossier_add_peer(bl, "MX1", mx_key, "{\"scope\": 1}") == DOSSIER_STATUS_INVALID,
          "scopes are a JSON array");
    OK(dossier_peers(bl, &json));
    CHECK(contains(json, "\"site\":\"MX1\"") && contains(json, mx_key), "peer listed with its key");
    dossier_string_free(json);

    OK(dossier_case_create(mx, "{\"market\":\"IN-UPI\",\"category\":\"refund\","
                               "\"subject\":\"Refund carried by bundle\"}", &json));
    json_field(json, "number", number, sizeof number);
    dossier_string_free(json);

    char path[4096], bad[4096];
    snprintf(path, sizeof path, "%s/mx1-for-blr2.bundle", dir);
    snprintf(bad, sizeof bad, "%s/tampered.bundle", dir);
    OK(dossier_export_bundle(mx, path, "BLR2", &json));
    CHECK(contains(json, "\"docs\":") && contains(json, "\"bytes\":"), "export reports its size");
    dossier_string_free(json);
    CHECK(dossier_export_bundle(mx, path, "SP3", &json) == DOSSIER_STATUS_NOT_FOUND,
          "no bundle for a site that is not a peer");

    size_t len = 0;
    unsigned char *bytes = read_bytes(path, &len);
    CHECK(bytes != NULL && len > 100, "bundle file written");
    char *docs_before = NULL, *docs_after = NULL;
    OK(dossier_documents(bl, &docs_before));
    if (bytes != NULL && len > 100) {
        bytes[len / 2] ^= 0x55;
        write_bytes(bad, bytes, len);
        CHECK(dossier_import_bundle(bl, bad, &json) == DOSSIER_STATUS_AUTH, "tampered bundle refused");
        CHECK(json == NULL, "no report for a refused bundle");
        CHECK(contains(dossier_last_error(), "signature"), "message says the signature is bad");
        bytes[len / 2] ^= 0x55;
        write_bytes(bad, bytes, len - 10);
        CHECK(dossier_import_bundle(bl, bad, &json) == DOSSIER_STATUS_SYNC_FAILED,
              "truncated bundle refused");
        CHECK(contains(dossier_last_error(), "truncated"), "message says truncated");
    }
    free(bytes);
    CHECK(dossier_import_bundle(bl, "/nonexistent/dir/x.bundle", &json) == DOSSIER_STATUS_STORAGE,
          "missing file");
    OK(dossier_documents(bl, &docs_after));
    CHECK(docs_before != NULL && docs_after != NULL && strcmp(docs_before, docs_after) == 0,
          "refused bundles changed nothing");
    CHECK(dossier_case_get(bl, number, &json) == DOSSIER_STATUS_NOT_FOUND, "case not there yet");
    dossier_string_free(docs_before);
    dossier_string_free(docs_after);

    OK(dossier_import_bundle(bl, path, &json));
    CHECK(contains(json, "\"from\":\"MX1\"") && contains(json, "\"rejected\":[]"),
          "import report names the sender");
    dossier_string_free(json);
    OK(dossier_case_get(bl, number, &json));
    CHECK(contains(json, "Refund carried by bundle"), "the case arrived by bundle");
    dossier_string_free(json);
    OK(dossier_import_bundle(bl, path, &json));
    CHECK(contains(json, "\"new_changes\":0"), "importing twice adds nothing");
    dossier_string_free(json);

    CHECK(dossier_sync_with_hub(bl, "http://127.0.0.1:9", &json) == DOSSIER_STATUS_INVALID,
          "a hub address is ws://");
    CHECK(dossier_sync_with_hub(bl, "ws://127.0.0.1:9", &json) == DOSSIER_STATUS_NETWORK,
          "no hub listening");
    CHECK(json == NULL && dossier_last_error() != NULL, "network failure has a message");
    OK(dossier_remove_peer(bl, "MX1"));
    CHECK(dossier_remove_peer(bl, "MX1") == DOSSIER_STATUS_NOT_FOUND, "removed once");
    dossier_string_free(mx_key);
    dossier_string_free(bl_key);
}

static void bad_input(DossierStore *store, const char *dir) {
    char *json = NULL;
    CHECK(dossier_case_create(store, NULL, &json) == DOSSIER_STATUS_INVALID, "NULL json");
    CHECK(dossier_case_create(NULL, "{}", &json) == DOSSIER_STATUS_INVALID, "NULL store");
    CHECK(dossier_case_create(store, "{\"market\":", &json) == DOSSIER_STATUS_INVALID,
          "truncated json");
    CHECK(dossier_case_create(store,
        "{\"market\":\"india upi\",\"category\":\"other\",\"subject\":\"x\"}", &json)
        == DOSSIER_STATUS_INVALID, "bad market");
    CHECK(contains(dossier_last_error(), "market"), "message names the field");
    CHECK(dossier_case_create(store,
        "{\"market\":\"IN-UPI\",\"category\":\"other\",\"subject\":\"Juan 4111111111111111\","
        "\"colour\":1}", &json) == DOSSIER_STATUS_INVALID, "unknown field");
    CHECK(!contains(dossier_last_error(), "4111111111111111") && !contains(dossier_last_error(), "Juan"),
          "input values are not echoed in messages");
    CHECK(dossier_case_create(store, "{\"market\":\"IN-UPI\"}", NULL) == DOSSIER_STATUS_INVALID,
          "NULL output pointer");
    CHECK(dossier_case_get(store, "MX1-999", &json) == DOSSIER_STATUS_NOT_FOUND, "unknown case");
    CHECK(json == NULL, "output cleared on failure");
    CHECK(dossier_sop_import(store, "{\"title\": \"x\", \"nodes\": [}", &json)
          == DOSSIER_STATUS_IMPORT, "malformed sop");
    CHECK(dossier_sop_validate(store, "not-an-id", &json) == DOSSIER_STATUS_INVALID, "bad id");

    const uint8_t garbage[] = "garbage, not a change pack";
    CHECK(dossier_apply_changes(store, garbage, sizeof garbage, &json) == DOSSIER_STATUS_REJECTED,
          "garbage pack rejected");
    CHECK(dossier_apply_changes(store, NULL, 4, &json) == DOSSIER_STATUS_INVALID, "NULL pack");

    OK(dossier_case_update(store, "MX1-1", "{\"status\":\"closed\"}", &json));
    dossier_string_free(json);
    CHECK(dossier_case_update(store, "MX1-1", "{\"priority\":\"low\"}", &json)
          == DOSSIER_STATUS_CASE_CLOSED, "closed case cannot change");
    CHECK(contains(dossier_last_error(), "closed"), "closed message");

    char path[4096];
    snprintf(path, sizeof path, "%s/mx1.db", dir);
    DossierStore *other = NULL;
    CHECK(dossier_open(path, "SP3", NULL, DOSSIER_DURABILITY_NORMAL, &other)
          == DOSSIER_STATUS_SITE_MISMATCH, "wrong site");
    CHECK(other == NULL, "no handle after a failed open");
    CHECK(dossier_open(path, NULL, NULL, 7, &other) == DOSSIER_STATUS_INVALID, "bad durability");
    dossier_close(NULL);
    dossier_string_free(NULL);
    dossier_bytes_free(NULL, 0);
}

static void plugins(DossierStore *store, const char *wasm_path) {
    size_t len = 0;
    unsigned char *wasm = read_bytes(wasm_path, &len);
    CHECK(wasm != NULL && len > 0, "plugin component read");
    if (wasm == NULL) return;
    char *json = NULL;
    OK(dossier_install_plugin(store, wasm, len, "[]", NULL, &json));
    CHECK(contains(json, "\"name\":\"in-upi-failed-txn\"") && contains(json, "\"active\":true"),
          "installed and active (signed with the site key)");
    dossier_string_free(json);
    free(wasm);

    OK(dossier_plugins(store, &json));
    CHECK(contains(json, "in-upi-failed-txn") && contains(json, "before-solve"), "listed");
    dossier_string_free(json);

    OK(dossier_case_create(store,
        "{\"market\":\"IN-UPI\",\"category\":\"failed_payment\",\"subject\":\"P2M debit\","
        "\"fields\":{\"txn_type\":\"p2m\",\"debit_date\":\"2024-03-01\"}}", &json));
    char number[64];
    json_field(json, "number", number, sizeof number);
    dossier_string_free(json);
    OK(dossier_case_get(store, number, &json));
    CHECK(contains(json, "\"reversal\""), "the plugin set the reversal deadline");
    dossier_string_free(json);

    OK(dossier_plugin_dry_run(store, "in-upi-failed-txn", number, "case-updated", &json));
    CHECK(contains(json, "\"actions\":[") && contains(json, "\"invalid\":null"), "dry run");
    dossier_string_free(json);
    CHECK(dossier_plugin_dry_run(store, "in-upi-failed-txn", number, "someday", &json)
          == DOSSIER_STATUS_INVALID, "unknown trigger");
    CHECK(json == NULL, "output cleared on failure");

    const uint8_t junk[] = "not a component";
    CHECK(dossier_install_plugin(store, junk, sizeof junk, NULL, NULL, &json)
          == DOSSIER_STATUS_PLUGIN_INCOMPATIBLE, "not a component");
    CHECK(contains(dossier_last_error(), "not a plugin component"), "message says so");
    CHECK(dossier_install_plugin(store, NULL, 4, NULL, NULL, &json) == DOSSIER_STATUS_INVALID,
          "NULL wasm");
    CHECK(dossier_trust_publisher(store, "not a key") == DOSSIER_STATUS_INVALID, "bad key");
}

/* A store's files are private (0600); one that others can write is refused with its own status;
 * the card-data scan of a healthy store finds nothing and says what it read. */
static void health(DossierStore *store, const char *dir) {
    char *json = NULL;
    OK(dossier_case_create(store,
        "{\"market\":\"ES\",\"category\":\"refund\",\"subject\":\"Tarjeta 4111 1111 1111 1111\"}",
        &json));
    dossier_string_free(json);
    OK(dossier_scan_card_data(store, &json));
    CHECK(contains(json, "\"findings\":[]") && contains(json, "\"documents\":"), "clean scan");
    CHECK(!contains(json, "4111 1111"), "the scan never repeats a number");
    dossier_string_free(json);

    char path[4096];
    snprintf(path, sizeof path, "%s/shared.db", dir);
    DossierStore *shared = NULL;
    OK(dossier_open(path, "SP3", "ana", DOSSIER_DURABILITY_NORMAL, &shared));
    dossier_close(shared);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "created 0600");
    chmod(path, 0666);
    shared = NULL;
    CHECK(dossier_open(path, NULL, "ana", DOSSIER_DURABILITY_NORMAL, &shared)
          == DOSSIER_STATUS_INSECURE_FILE, "a world-writable store is refused");
    CHECK(shared == NULL && contains(dossier_last_error(), "chmod 600"), "with advice");
    CHECK(dossier_scan_card_data(NULL, &json) == DOSSIER_STATUS_INVALID, "NULL store");
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s DIR SOP_JSON_FILE [PLUGIN_WASM_FILE]\n", argv[0]);
        return 2;
    }
    char *sop_json = read_file(argv[2]);
    if (sop_json == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    CHECK(strlen(dossier_version()) > 0, "version");

    char mx_path[4096], bl_path[4096];
    snprintf(mx_path, sizeof mx_path, "%s/mx1.db", argv[1]);
    snprintf(bl_path, sizeof bl_path, "%s/blr2.db", argv[1]);
    DossierStore *mx = NULL, *bl = NULL, *mx_approver = NULL;
    OK(dossier_open(mx_path, "MX1", "ana", DOSSIER_DURABILITY_NORMAL, &mx));
    OK(dossier_open(bl_path, "BLR2", "bala", DOSSIER_DURABILITY_FULL, &bl));
    OK(dossier_open(mx_path, NULL, "rosa", DOSSIER_DURABILITY_NORMAL, &mx_approver));

    if (mx != NULL && bl != NULL && mx_approver != NULL) {
        cases_and_merge(mx, bl);
        sop_lifecycle(mx, mx_approver, sop_json);
        articles(bl);
        bundles(mx, bl, argv[1]);
        bad_input(mx, argv[1]);
        health(bl, argv[1]);
        if (argc == 4) plugins(bl, argv[3]);
    }

    dossier_close(mx_approver);
    dossier_close(bl);
    dossier_close(mx);
    free(sop_json);
    printf("c: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
