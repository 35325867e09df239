// Kotlin conveniences over the generated binding, kept to what a lambda makes clearer.
//
// uniffi generates `ChangeListener` as a plain interface, so subscribing would need an
// `object : ChangeListener { ... }` each time; this extension takes a lambda instead. Ship this
// file next to `generated/dev/dossier/dossier.kt`.

package dev.dossier

/**
 * Calls [handler] after every committed transaction of this store (local writes and merged
 * change packs) until the returned [Subscription] is cancelled. It runs on the writing thread:
 * post to your UI thread. An exception it throws is ignored.
 */
fun Store.subscribe(handler: (ChangeNotice) -> Unit): Subscription =
    subscribe(object : ChangeListener {
        override fun onChange(notice: ChangeNotice) = handler(notice)
    })
