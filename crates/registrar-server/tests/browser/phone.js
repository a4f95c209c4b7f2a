// The browser phone of the WSS interop test (crates/registrar-server/tests/it/browser.rs): SIP.js in headless
// Chromium registers over WSS (outbound, an .invalid contact), publishes its presence, watches a buddy's, and
// when a NOTIFY shows the buddy's note it publishes again saying so — which the test reads back from the
// server. Parameters come in the page's query: wss, user, buddy, domain.
import { Publisher, Registerer, Subscriber, UserAgent } from "sip.js";

const q = new URLSearchParams(location.search);
const [wss, user, buddy, domain] = ["wss", "user", "buddy", "domain"].map((k) => q.get(k));
const aor = `sip:${user}@${domain}`;
const log = (s) => {
  document.title = s;
  console.log(s);
};

const pidf = (note) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${aor}">` +
  `<tuple id="browser"><status><basic>open</basic></status><note>${note}</note></tuple></presence>`;

async function main() {
  const ua = new UserAgent({
    uri: UserAgent.makeURI(aor),
    transportOptions: { server: wss },
    instanceIdAlwaysAdded: true,
    logLevel: "warn",
  });
  await ua.start();
  const registerer = new Registerer(ua, { expires: 600, regId: 1 });
  await registerer.register();
  const publisher = new Publisher(ua, UserAgent.makeURI(aor), "presence", {
    expires: 600,
    contentType: "application/pidf+xml",
  });
  await publisher.publish(pidf("in the browser"));
  let told = false;
  const subscriber = new Subscriber(ua, UserAgent.makeURI(`sip:${buddy}@${domain}`), "presence", {
    expires: 600,
    extraHeaders: ["Accept: application/pidf+xml"],
  });
  subscriber.delegate = {
    onNotify: (notification) => {
      notification.accept();
      const body = notification.request.body || "";
      log(`notified: ${body.length} bytes`);
      const note = /<note[^>]*>([^<]*)<\/note>/.exec(body);
      if (note && !told) {
        told = true;
        publisher.publish(pidf(`saw ${note[1]}`));
      }
    },
  };
  await subscriber.subscribe();
  log("subscribed");
}

main().catch((e) => log(`failed: ${e}`));
