// A React button that opens Accord's hosted flow in the embed SDK's modal.
// Load the SDK once in your HTML: <script src="https://accord.example/sdk/link.js"></script>
// (types: https://accord.example/sdk/link.d.ts). `getLinkUrl` asks your server for a link
// session URL (POST /v1/companies/{id}/link-sessions; the API key stays on your server).
import { useRef, useState } from "react";

export function AccordConnect({ getLinkUrl, onConnection, onFinish, onError, onStep, nonce }) {
  const [busy, setBusy] = useState(false);
  const handle = useRef(null);

  async function open() {
    setBusy(true);
    try {
      const url = await getLinkUrl();
      handle.current = window.Accord.open({
        url,
        nonce,
        onConnection,
        onFinish,
        // Every failure, with a code (link.d.ts lists them); `recoverable: false` means the
        // modal cannot go on: the customer closes it (onFinish "exited", then onClose).
        onError: onError || ((e) => console.warn("Accord:", e.code, e.message)),
        onEvent: onStep,
        onClose: () => { handle.current = null; setBusy(false); },
      });
    } catch (e) {
      setBusy(false);
      throw e;
    }
  }

  return (
    <button type="button" onClick={open} disabled={busy}>
      Connect your accounts
    </button>
  );
}
