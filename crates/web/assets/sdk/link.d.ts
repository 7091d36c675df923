// Type declarations for Accord's embed SDK (`/sdk/link.js`), which defines `window.Accord`.

/** What `onConnection` receives when a connection is linked. */
export interface AccordConnection {
  companyId: string;
  connectionId: string;
  /** The platform key, e.g. `xero` or `sandbox`. */
  platform: string;
  /** `linked` once the customer signed in at the platform. */
  status: string;
}

/** What `onConsent` receives: the recorded consent (its receipt is in the tenant API). */
export interface AccordConsent {
  consentId: string | null;
  connectionId: string;
  platform: string;
  noticeVersion: number | null;
}

/** What `onFinish` receives; the same values the return redirect adds to the return URL. */
export interface AccordFinish {
  /** `null` when the customer left before the flow could say (see `onError`). */
  companyId: string | null;
  connectionId: string | null;
  platform: string | null;
  /** A connection status (`linked`, `pending_auth`…) or `exited` without a connection. */
  status: string;
  errorCode: string | null;
}

/**
 * The failures `onError` reports.
 *
 * From the flow's pages:
 * - `sign_in_failed`: the platform sign-in did not finish (`errorCode` says why, e.g.
 *   `access_denied`); the flow shows the platform again (`recoverable: true`).
 * - `link_unusable`: the link session URL was already used, has expired or does not exist.
 * - `session_expired`: the flow's session ended (or a page was reached without it).
 * - `sign_in_unconfirmed`: the platform's answer matched no authorization in progress.
 * - `return_url_removed`, `forbidden`, `bad_request`, `too_large`, `not_found`,
 *   `rate_limited`, `internal`: the flow showed its error page of that name.
 * - `unavailable`: Accord's database could not be reached for a moment; the flow showed a page
 *   asking to try again shortly.
 *
 * From the SDK itself, which then shows its own message and a close button:
 * - `not_framed`: the flow never started in the frame (this page's origin is not in
 *   `integration.embedding_origins`, or the page could not load). The link is not used up by a
 *   refused origin.
 * - `unresponsive`: the flow stopped answering (network lost, or the frame left the flow).
 */
export type AccordErrorCode =
  | "sign_in_failed" | "link_unusable" | "session_expired" | "sign_in_unconfirmed"
  | "return_url_removed" | "forbidden" | "bad_request" | "too_large" | "not_found"
  | "rate_limited" | "internal" | "unavailable" | "not_framed" | "unresponsive";

/** What `onError` receives. */
export interface AccordError {
  code: AccordErrorCode;
  /** For your logs (English); the customer reads the flow's own page. */
  message: string;
  /** `true` when the customer can go on in the modal; else close it (a new link session is needed). */
  recoverable: boolean;
  /** `sign_in_failed` only: the connection, `"error"`, and the platform's error code. */
  connectionId?: string | null;
  status?: "error";
  errorCode?: string | null;
}

/** What `onEvent` receives each time the flow shows a page. */
export interface AccordStepEvent {
  /**
   * `landing`, `select`, `consent`, `callback`, `success`, `reconsent`, `nda`, `support`,
   * `receipt`, `finish`, `exit`, `error` or `other`.
   */
  step: string;
}

export interface AccordOpenOptions {
  /** The link session URL from `POST /v1/companies/{id}/link-sessions` (single use). */
  url: string;
  onConnection?: (connection: AccordConnection) => void;
  onConsent?: (consent: AccordConsent) => void;
  /** The customer finished; the modal closes after this call. */
  onFinish?: (result: AccordFinish) => void;
  /**
   * The modal closed. It always follows `onFinish` when the customer ends it (Done, the flow's
   * Exit, Escape, the close button: `status: "exited"` unless something was connected), and
   * comes alone only after `AccordHandle.close()`.
   */
  onClose?: (info: Record<string, never>) => void;
  onError?: (error: AccordError) => void;
  /** Each page the flow shows, by step. */
  onEvent?: (event: AccordStepEvent) => void;
  /**
   * Your page's CSP nonce, set on the `<style>` element the SDK adds. Needed when your CSP's
   * `style-src` has no `'unsafe-inline'`; without it the SDK warns in the console.
   */
  nonce?: string;
  /** The dialog's accessible name (default "Connect your accounts"). */
  title?: string;
  /** The close button's accessible name (default "Close"). */
  closeLabel?: string;
}

export interface AccordHandle {
  /** Closes the modal at once (no confirmation). */
  close(): void;
}

export interface AccordSdk {
  open(options: AccordOpenOptions): AccordHandle;
  readonly version: string;
}

declare global {
  interface Window {
    Accord: AccordSdk;
  }
  const Accord: AccordSdk;
}
