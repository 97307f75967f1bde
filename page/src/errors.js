// Uppy keeps nothing of a failed Companion request but its HTTP status text ("Companion request failed:
// <statusText>", @uppy/aws-s3 6 CompanionS3.ts), and API Gateway sends no status text over HTTP/2. So the
// page hands Uppy the API's own message as the status text of the API's failed /s3/ answers.
const REASON_MAX = 500;

function reasonPhrase(text) {
  // A status text may hold only tabs, spaces and visible Latin-1 characters (fetch throws otherwise).
  return text.replace(/[^\t\x20-\x7e\xa0-\xff]/g, "?").slice(0, REASON_MAX);
}

export function withApiReasons(endpoint) {
  const plainFetch = window.fetch.bind(window);
  const routes = `${endpoint}/s3/`;
  window.fetch = async (input, init) => {
    const response = await plainFetch(input, init);
    const url = new URL(typeof input === "string" ? input : input.url, window.location.href).href;
    if (response.ok || !url.startsWith(routes)) return response;
    let reason = response.statusText;
    try {
      const { error } = await response.clone().json();
      if (error && error.message) reason = `${response.status} ${error.code}: ${error.message}`;
    } catch (_) {
      // not the API's JSON error: keep the status text there is
    }
    return new Response(response.body, {
      status: response.status,
      statusText: reasonPhrase(reason),
      headers: response.headers,
    });
  };
}
