/* Embedding Dossier from C: open a store, open a case, find it again, print it.
 *
 * Build and run from the repository root after `cargo build -p dossier-ffi`:
 *
 *   gcc -std=c11 -Iffi/include examples/c/open_case.c -Ltarget/debug -ldossier_ffi \
 *       -Wl,-rpath,$PWD/target/debug -o target/open_case
 *   target/open_case /tmp/site.db
 *
 * Every call returns a DossierStatus; on failure dossier_last_error() says why. Every string the
 * library hands back is freed with dossier_string_free. `cargo xtask test` builds and runs this
 * example under valgrind so it stays correct. */

#include <stdio.h>

#include "dossier.h"

static int fail(const char *what) {
    fprintf(stderr, "%s failed: %s\n", what, dossier_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "site.db";
    printf("dossier %s\n", dossier_version());

    DossierStore *store = NULL;
    if (dossier_open(path, "MX1", "ana", DOSSIER_DURABILITY_NORMAL, &store) != DOSSIER_STATUS_OK) {
        return fail("open");
    }

    /* The site's public key: the hub provisions this site with it (`dossier peer add`) before
     * dossier_sync_with_hub can authenticate; free it like any returned string. */
    char *key = NULL;
    if (dossier_public_key(store, &key) == DOSSIER_STATUS_OK) {
        printf("site key: %s\n", key);
    }
    dossier_string_free(key);

    char *created = NULL;
    DossierStatus status = dossier_case_create(store,
        "{\"market\": \"IN-UPI\", \"category\": \"failed_payment\","
        " \"subject\": \"Money debited, not credited\","
        " \"payment\": {\"rail\": \"upi\", \"amount_minor\": 49900, \"currency\": \"INR\"}}",
        &created);
    if (status != DOSSIER_STATUS_OK) {
        dossier_close(store);
        return fail("case create");
    }
    printf("created: %s\n", created);
    dossier_string_free(created);

    char *open_cases = NULL;
    if (dossier_case_list(store, "{\"market\": \"IN-UPI\", \"limit\": 5}", &open_cases)
        != DOSSIER_STATUS_OK) {
        dossier_close(store);
        return fail("case list");
    }
    printf("newest IN-UPI cases: %s\n", open_cases);
    dossier_string_free(open_cases);

    /* Errors are values: a case that does not exist gives DOSSIER_STATUS_NOT_FOUND. */
    char *missing = NULL;
    if (dossier_case_get(store, "MX1-99999", &missing) == DOSSIER_STATUS_NOT_FOUND) {
        printf("as expected: %s\n", dossier_last_error());
    }

    dossier_close(store);
    return 0;
}
