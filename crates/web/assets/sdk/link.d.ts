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
  companyId: string;
  connectionId: string | null;
  platform: string | null;
  /** A connection status (`linked`, `pending_auth`…) or `exited` without a connection. */
  status: string;
  errorCode: string | null;
}

/** What `onError` receives when the platform sign-in failed. */
export interface AccordError {
  connectionId: string | null;
  status: "error";
  /** The platform's error code, e.g. `access_denied`. */
  errorCode: string | null;
}

export interface AccordOpenOptions {
  /** The link session URL from `POST /v1/companies/{id}/link-sessions` (single use). */
  url: string;
  onConnection?: (connection: AccordConnection) => void;
  onConsent?: (consent: AccordConsent) => void;
  /** The customer finished; the modal closes after this call. */
  onFinish?: (result: AccordFinish) => void;
  /** The modal closed (after finishing, or the customer left). */
  onClose?: (info: Record<string, never>) => void;
  onError?: (error: AccordError) => void;
  /** Your page's CSP nonce, set on the `<style>` element the SDK adds. */
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
