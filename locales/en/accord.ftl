# Accord — English. Every user-facing string of the hosted flow, the manage page and the
# built-in notices. French lives in ../fr/accord.ftl; a test keeps both complete.

## Page chrome
skip-to-content = Skip to content
language-switch = Language
trust-label = Why you can trust this
trust-message-default = Securely connect your business accounts. You choose what is shared, and you can disconnect at any time.
trust-message-default-tenant = Securely connect your business accounts to { $tenant }. You choose what is shared, and you can disconnect at any time.
promise-disconnect = You can disconnect at any time, and sharing stops at once.
help-heading = Need help?
help-guide = Connection guide and FAQ
help-phone = Phone:
help-email = E-mail:
help-form = Send a support request
help-privacy = Privacy policy
help-terms = Terms of use
powered-by = Secured and powered by Accord
back-to-platforms = Back to the list of platforms

## Categories, data types, directions, statuses
category-accounting = Accounting
category-banking = Banking
category-commerce = Commerce
data-type-company-info = Company details
data-type-accounts = Chart of accounts
data-type-invoices = Invoices
data-type-bills = Bills
data-type-customers = Customers
data-type-suppliers = Suppliers
data-type-payments = Payments
data-type-bank-accounts = Bank accounts
data-type-bank-transactions = Bank transactions
data-type-balance-sheet = Balance sheet
data-type-profit-and-loss = Profit and loss
data-type-orders = Orders
data-type-products = Products
data-type-payouts = Payouts
data-type-disputes = Disputes
direction-read = read from { $platform }
direction-write = written to { $platform }
status-pending-auth = Waiting for sign-in
status-linked = Connected
status-deauthorized = Access ended by the platform
status-disconnected = Disconnected
status-reconsent-required = Your agreement is needed again

## Landing
landing-title = Connect your accounts
landing-heading = Connect your accounts to { $tenant }
landing-lead = { $tenant } asks { $company } to connect the platforms it uses, so it can see your figures without you sending documents.
landing-step-choose = Choose the platform you use.
landing-step-review = Read exactly what will be shared and why, then agree.
landing-step-sign-in = Sign in on the platform's own site to confirm.
landing-assurance-password = You sign in on the platform's own site: your password is never seen by { -brand } or by { $tenant }.
landing-assurance-sharing = { $tenant } never shares your data with third parties without your consent.
landing-start = Get started
-brand = Accord

## Platform selection
select-title = Choose a platform
select-heading = Which platform do you use?
select-sign-in-explainer = You will sign in on the platform's own website. Your password is never seen by Accord or by { $tenant }.
select-connected-count = { $count ->
    [one] You have connected 1 platform in this session. You can add another.
   *[other] You have connected { $count } platforms in this session. You can add another.
}
select-search-label = Search platforms
select-search-button = Search
select-no-results = No platform matches “{ $query }”.
select-connected = Connected ✓
select-platform-missing = Can't find your platform? Say which one you use.

## Consent
consent-title = Connect { $platform }
consent-already-connected = Your { $platform } account is already connected. Connecting again replaces the existing agreement.
notice-heading = { $tenant } asks to use your { $category ->
    [accounting] accounting
    [banking] banking
   *[commerce] commerce
} data from { $platform }
notice-category = Category
notice-purpose = Why it is used
notice-data-used = Data used
notice-retention = How long it is kept
notice-sharing = Sharing with third parties
notice-withdrawal = How to withdraw your consent
notice-privacy-policy = Privacy policy
notice-version = Version of these terms
consent-checkbox = I agree that { $tenant } may use the data listed above for the purpose described, as set out in its
consent-privacy-link = privacy policy (opens in a new tab)
consent-sign-in-note = Next, you will sign in on the { $platform } website to confirm. Accord never sees your password.
consent-connect = Agree and connect
consent-decline = No thanks
consent-error-unticked = To connect, tick the box to show you agree. Nothing has been shared.
consent-error-changed = This notice has just been updated. Please read it again before agreeing.

## Declined
declined-title = Nothing was shared
declined-body = You chose not to connect { $platform }. No data has been shared, and nothing was recorded except your choice.

## Callback errors
callback-error-title = The connection did not finish
callback-error-heading = { $platform } did not connect
callback-error-denied = You chose not to give access on { $platform }'s site. Nothing has been shared. You can try again whenever you like.
callback-error-generic = Something went wrong while { $platform } was confirming the connection. Nothing has been shared. Please try again, or ask for help.
callback-error-code = Error code: { $code }
callback-error-retry = Try again
callback-error-support = Ask for help

## Success
success-title = Connected
success-heading = Your { $platform } account is connected
success-lead = Thank you. Your connection is active and protected.
success-disconnect-heading = Changed your mind?
success-disconnect-body = You can disconnect at any time from the page that lists your connections. Sharing stops at once, and { $tenant }'s access to your { $platform } account is removed.
success-add-another = Connect another platform
success-manage = See and manage my connections
success-done = I'm done
connection-granted = agreed on { $date }
connection-shares = What is shared:
connection-proof = Proof code of these terms, for a technical adviser:

## Finished
finished-title = All done
finished-lead = You connected:
finished-none = You did not connect any platform. Nothing has been shared.
finished-close = You can close this window and return to { $tenant }.

## Manage page
manage-title = Your connections
manage-lead = The platforms { $company } has connected to { $tenant }, what each shares, and since when.
manage-empty = You have no connections.
manage-disconnect = Disconnect { $platform }
manage-disconnected = { $platform } is disconnected. Sharing has stopped and { $tenant }'s access to your { $platform } account has been removed.
manage-confirm-title = Disconnect { $platform }?
manage-confirm-body = { $tenant } will stop receiving data from { $platform } at once, and its access to your { $platform } account will be removed. You can connect again later if you wish.
manage-confirm-yes = Yes, disconnect
manage-confirm-no = No, keep it

## Re-consent (the notice changed, or the agreement expired)
reconsent-title = Review the new terms for { $platform }
reconsent-intro-changed = { $tenant } has changed how it uses your data from { $platform } since you agreed on { $date }. Sharing from { $platform } is paused until you agree to the new terms.
reconsent-intro-expired = On { $date } you agreed to share data from { $platform } with { $tenant }. That agreement has reached the end of its validity period, so sharing is paused until you confirm it.
reconsent-changes-heading = What changed
reconsent-no-changes = The terms are the same as the ones you agreed to. Only your confirmation is needed.
reconsent-uses-added = Now also used:
reconsent-uses-removed = No longer used:
reconsent-diff-legend = Removed words are struck through; added words are underlined.
reconsent-diff-removed = removed:
reconsent-diff-added = added:
reconsent-diff-language = { $language ->
    [fr] This comparison is in French, the language of the notice you agreed to.
   *[en] This comparison is in English, the language of the notice you agreed to.
}
reconsent-checkbox = I agree that { $tenant } may continue to use the data listed above for the purpose described, as set out in its
reconsent-agree = Agree
reconsent-decline = Not now
reconsent-disconnect = Disconnect { $platform } instead
reconsent-disconnect-via-manage = Disconnect instead (from the page listing your connections)
reconsent-error-unticked = To keep sharing, tick the box to show you agree. Nothing has changed.
reconsent-back-manage = Back to your connections
reconsent-review-again = Review the new terms again
reconsent-done-title = Agreement recorded
reconsent-done-heading = { $platform } is connected again
reconsent-done-lead = Thank you. Your agreement to the new terms is recorded and sharing from { $platform } has resumed. You did not need to sign in again.
reconsent-declined-title = Nothing has changed
reconsent-declined-body = { $platform } stays paused: { $tenant } cannot use its data until you agree to the new terms. You can come back and agree at any time, or disconnect it.
select-reconsent-lead = The terms changed for these connections. Please review them:
select-reconsent-review = Review { $platform }
manage-reconsent-note = Sharing from { $platform } is paused: the terms changed, or your agreement reached the end of its validity period.
manage-reconsent-review = Review and agree again
manage-deauthorized-note = { $platform } ended { $tenant }'s access, so sharing has stopped. This happens when access is removed in { $platform }'s settings, or when it runs out. To share again, reconnect.
manage-reconnect = Reconnect { $platform }

## Support
support-title = Ask for help
support-lead = Tell { $tenant } what is happening and how to reach you. { $tenant } will get back to you.
support-topic = What do you need help with?
support-topic-platform-missing = I can't find my platform
support-topic-connection-failed = The connection failed
support-topic-privacy-question = A question about my data and privacy
support-topic-other = Something else
support-message = Your message
support-reply-to = Your e-mail address or phone number
support-reply-hint = So { $tenant } can reply to you.
support-diagnostics-note = To help { $tenant }, technical details of this step (no passwords, no financial data) are attached to your request.
support-send = Send my request
support-prefill-error = The connection failed with the error code { $code }.
support-prefill-platform = I can't find my platform in the list. I use:
support-prefill-platform-searched = I can't find my platform in the list. I searched for “{ $query }”. I use:
support-error-topic = Choose what you need help with.
support-error-message = Write a message of up to 4,000 characters.
support-error-reply = Enter an e-mail address (like name@example.com) or a phone number.
support-done-title = Request sent
support-done-body = Thank you. Your reference is { $reference }. Quote it if you contact { $tenant } again.
support-done-back = Back
form-errors-heading = Please correct the following
form-error-title-prefix = Error:

## Errors
error-reference = Reference for support: { $id }
error-help-hint = If you need help, use the contact details below.
error-session-title = Your session has ended
error-session-body = For your security, this page needs the link you were sent. Please open it again, or ask for a new one.
error-link-title = This link can no longer be used
error-link-body = Links work once and for a limited time. Please ask for a new link to continue.
error-not-found-title = Page not found
error-not-found-body = This page does not exist or is no longer available.
error-state-title = This sign-in could not be confirmed
error-state-body = The response from the platform did not match a sign-in started in this browser, or it came too late. Nothing has been shared. Please start the connection again.
error-authorization-over-title = This authorization is over
error-authorization-over-body = This authorization was already completed or has expired, so nothing more has been shared. Please start a new one from the service you came from.
error-return-title = The sign-in is over
error-return-body = This page cannot take you back to where you started: that address is no longer accepted. Close this window and return to the service you came from; it can tell you whether the connection succeeded.
error-forbidden-title = This action was refused
error-forbidden-body = For your security, the form could not be accepted. Please reload the page and try again.
error-bad-request-title = Something was wrong with that request
error-bad-request-body = Please go back and try again.
error-too-many-title = Too many attempts
error-too-many-body = Please wait a moment before trying again.
error-internal-title = Something went wrong
error-internal-body = Nothing has been shared. Please try again in a moment.

## Guide
guide-title = Connection guide
guide-lead = How connecting your accounts works, and what it means for your data.
guide-why-q = Why connect my accounts?
guide-why-a = Connecting lets the company that sent you here see up-to-date figures straight from the source, so you don't need to gather and send documents. It can speed up decisions and may improve the offer you receive.
guide-how-q = How does it work?
guide-how-a = You choose a platform, read exactly which data will be used and why, tick the box to agree, then sign in on the platform's own website to confirm. It takes about a minute.
guide-password-q = Do you see my password?
guide-password-a = No. You sign in directly on the platform's website. Accord receives only a limited, revocable access key, kept encrypted.
guide-what-q = What data is used?
guide-what-a = Only the data types listed on the consent screen, in the direction shown: read from the platform, or written to it. Nothing else is requested.
guide-disconnect-q = Can I change my mind?
guide-disconnect-a = Yes, at any time, even for a one-off connection. Disconnecting stops sharing at once and destroys the access key.
guide-trouble-q = It didn't work. What now?
guide-trouble-a = Try again from the list of platforms. If it still fails, send a support request from any page: technical details are attached for you.

## Accord's privacy page
privacy-title = How your data is handled
privacy-lead = This connection service runs on Accord, open-source software built around your consent.
privacy-point-consent = Nothing is shared until you tick the box and confirm on the platform's own site.
privacy-point-tokens = Access keys are encrypted at rest and never shown to anyone.
privacy-point-minimal = Only the data types listed on the consent screen are requested.
privacy-point-withdraw = You can disconnect at any time; the access key is destroyed at once and revoked at the platform.
privacy-point-proof = Each agreement is recorded with the exact text you saw, so it can be proven later.
privacy-contact = For questions about how the company that sent you here uses your data, use the contact details below.

## Built-in notices (tenants publish their own versions)
notice-default-purpose-accounting = To understand your business's financial position and assess your application.
notice-default-purpose-banking = To verify your business's bank balances and cash flow when assessing your application.
notice-default-purpose-commerce = To understand your business's sales and payouts when assessing your application.
notice-default-retention = For as long as your application or account is open, then deleted within 12 months.
notice-default-sharing = Never shared with third parties without your consent.
notice-default-withdrawal = Disconnect at any time from the page listing your connections, using the personal link on your confirmation page and record of consent; sharing stops at once.

## Receipts
receipt-title = Your record of consent
receipt-lead = What you agreed with { $tenant } about your { $platform } account, and when. It is signed, so anyone can check it was not changed.
receipt-events = What happened
receipt-event-given = Consent given
receipt-event-withdrawn = Consent withdrawn
receipt-event-reconsented = Consent given again
receipt-event-expired = Consent expired
receipt-event-nda-accepted = Mutual confidentiality agreement signed
receipt-event-superseded = Consent replaced by a newer one
receipt-position = entry { $position } of { $tenant }'s consent register
receipt-download = Download the signed record
receipt-download-proof = Download a fresh proof that it is still in the register
receipt-hash = Proof code of this entry:
receipt-text-heading = The exact terms you agreed to
receipt-verify-heading = For a technical adviser: how to check it
receipt-verify-body = The downloaded record is a JSON document: the signed record (JWS, EdDSA) and the proof that this entry is in the consent register as it was signed shortly after your action (an RFC 9162 Merkle proof under a signed checkpoint). The fresh proof shows that today’s register still holds it unchanged. Both are checked with the public keys published at /.well-known/jwks.json, for example with the command “accord receipt verify RECORD --proof PROOF”. The proof codes above are SHA-256 hashes.
connection-receipt = See and download your record of consent

## Mutual NDA (optional, separate from the consent)
nda-offer-heading = Mutual confidentiality agreement
nda-offer-body = { $tenant } also offers a mutual confidentiality agreement. It is optional and separate: you can connect without it.
nda-offer-link = Read and sign { $tenant }'s mutual confidentiality agreement (optional)
nda-title = Mutual confidentiality agreement
nda-lead = Signing is optional and has no effect on your connections. Read the agreement proposed by { $tenant }, then sign it if you wish.
nda-back = Back
nda-document-heading = The agreement
nda-signatory = Already signed for the other party by { $signatory }.
nda-signer-name = Your full name
nda-signer-title = Your title or role
nda-accept = I accept this agreement and sign it on behalf of my company
nda-optional-note = This agreement is optional: it is not needed to connect your accounts.
nda-sign = Sign
nda-not-now = Not now
nda-error-name = Enter your full name (at most 200 characters).
nda-error-title = Enter your title or role (at most 200 characters).
nda-error-unticked = To sign, tick the box to show you accept the agreement. Nothing has been signed.
nda-done-title = Agreement signed
nda-done-lead = Signed by { $signer } on { $date }. Keep a copy: both files below are your proof.
nda-download-pdf = Download the signed agreement (PDF)
nda-download-receipt = Download its signed record
nda-hash = Proof code of the document (SHA-256):
nda-continue = Continue
nda-manage-heading = Mutual confidentiality agreements
nda-manage-item = Mutual confidentiality agreement signed on { $date }
nda-pdf-signatures = Signatures
nda-pdf-party = For { $party }: { $name }, { $title }
nda-pdf-date = Signed electronically on { $date }
nda-pdf-hash = Proof code of the document (SHA-256 of the signed text): { $hash }
nda-pdf-ledger = Recorded as entry { $position } of the consent register, with a signed record.

## Embedded flow (the embed SDK's window on the tenant's site)
embed-continue-title = Continuing…
embed-continue = Continue
embed-done-title = Back to your application
embed-done-body = You can close this window and carry on with your application.
embed-exit-title = Leave without finishing?
embed-exit-body = Nothing more will be shared. What you already connected stays connected, and you can disconnect it at any time.
embed-exit-stay = Stay
embed-exit-leave = Leave

## Link settings: categories, placeholders, leaving mid-flow
category-requested = Requested by { $tenant }
category-optional = Optional
placeholder-company = your business
placeholder-platform = your platform
exit-button = Exit
exit-title = Leave without finishing?
exit-question = You can come back with the same link while it is valid. Nothing more is shared with { $tenant } by leaving, and anything you connected stays in your control: you can disconnect it at any time.
exit-question-embedded = Nothing more is shared with { $tenant } by leaving, and anything you connected stays in your control: you can disconnect it at any time. To connect later, start again from { $tenant }.
exit-stay = Go back
exit-confirm = Yes, exit
finished-exited-title = You left before finishing

## Who was connected, the access log, expiry
success-replaced = This replaces your earlier connection to { $connection } — its access has been removed.
connection-ends = Your agreement ends on { $date }.
connection-renew = Renew it now
manage-pending-note = The sign-in to { $platform } was not finished, so nothing is shared yet. To share, connect again.
organisation-question-title = A different organisation
organisation-question-lead = This connection was to { $previous }, but you just signed in to { $new }. Which do you want?
organisation-question-keep = Keep { $previous }
organisation-question-new = Connect { $new } as well
organisation-question-hint = If you keep the earlier organisation, the access you just gave to the new one is removed at once. Nothing else changes.
organisation-kept-title = Your earlier connection is kept
organisation-kept-body = Your connection to { $previous } is kept. The access you just gave to { $new } has been removed.
access-heading = What was accessed
access-empty = No data has been accessed through this connection yet.
access-older = Older
access-newest = Newest
access-download = Download as CSV
access-read = Read { $data }
access-write = Wrote { $data }
access-proxy = Direct request to the platform
access-credential = Access key handed to { $tenant }
access-records = { $count ->
    [one] 1 record
   *[other] { $count } records
}
access-refused-not-consented = Refused: not covered by your consent
access-refused-withdrawn = Refused: you had disconnected
access-refused-expired = Refused: your agreement had ended
access-refused-reconsent-required = Refused: waiting for your agreement again
access-refused-deauthorized = Refused: the platform had ended the access
access-platform-error = Nothing shared: the platform answered with an error
error-too-large-title = That was too long to accept
error-too-large-body = Nothing was saved. Please go back and send less text.

## Data uses: what the tenant can do with them
uses-read-only = { $tenant } can only view this data; it cannot change anything in your { $platform } account or move money.
uses-can-write = { $tenant } can also add data to your { $platform } account: the lines marked “written to { $platform }”. It cannot do anything else there.

## The personal link to the manage page (valid while any agreement is in force)
manage-link-heading = Your personal link to come back
manage-link-body = Keep this link to see your connections, or disconnect, at any time. It works as long as one of your agreements with { $tenant } is in force. Do not share it: anyone who has it can disconnect your accounts.
manage-link-label = Your personal link
manage-link-rotated = This link is new: the one you used to come here no longer works. Keep this one.
manage-come-back = To come back later, use the personal link shown on this page, on your confirmation page and in your record of consent. { $tenant } can also send you a new one.
label-colon = :
manage-return-title = See your connections
manage-return-lead = This personal link opens the page where { $company } sees what it shares with { $tenant }, and can disconnect it.
manage-return-open = Open my connections

## E-mail: a fresh personal manage link, sent to the customer at the tenant's request
manage-link-mail-subject = Your personal link to manage what you share with { $tenant }
manage-link-mail-greeting = Hello,
manage-link-mail-intro = { $tenant } sent you a personal link to the page where { $company } sees what it shares with { $tenant }.
manage-link-mail-what = On that page you can see each connection and what it shares, withdraw access (disconnect) at any time, and download your records of consent:
manage-link-mail-personal = This link is personal: anyone who has it can disconnect your accounts, so do not forward it. It works as long as one of your agreements with { $tenant } is in force.
manage-link-mail-support = Questions? Contact { $tenant }: { $contact }
manage-link-mail-no-support = Questions? Contact { $tenant } the way you usually do.
manage-link-mail-footer = Sent by Accord for { $tenant }. If you did not expect this e-mail, you can ignore it.

## Error page: the database is unavailable for a moment (503, Retry-After)
error-unavailable-title = Temporarily unavailable
error-unavailable-body = This service is temporarily unavailable, so this step could not be completed. Nothing has been shared. Please try again in a moment.
