//! The method handlers: REGISTER, PUBLISH, SUBSCRIBE (with the dialog a SUBSCRIBE creates).

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    pub(super) async fn register(&self, now: Timestamp, msg: &Message, from: Peer) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        let rhost = uri_host(ruri);
        if !self.serves(rhost) {
            return Response::warning(403, "not a domain served here");
        }
        let to = uri_in(msg.header(Hdr::To).unwrap_or(""));
        let aor: Aor = match to.parse() {
            Ok(a) => a,
            Err(e) => return Response::warning(400, &format!("invalid To: {e}")),
        };
        // RFC 3261 §10.3 step 3: the AoR must belong to the Request-URI's domain.
        if !aor.domain().eq_ignore_ascii_case(rhost) {
            return Response::warning(404, "the To address is not in the Request-URI's domain");
        }
        match self.authenticate(now, msg) {
            Ok(Some(user)) if aor.user().is_none_or(|u| u != user) => {
                return Response::warning(403, "credentials do not match the address-of-record");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        let h = RegisterHeaders {
            to,
            call_id: msg.header(Hdr::CallId).unwrap_or(""),
            cseq: msg.cseq(),
            contact: msg.values(Hdr::Contact).collect(),
            expires: msg.header(Hdr::Expires),
            supported: msg.values(Hdr::Supported).collect(),
            path: msg.values(Hdr::Path).collect(),
            user_agent: msg.header(Hdr::UserAgent),
        };
        let req = match helpers::register_request(&h) {
            Ok(r) => r.from_addr(from.addr, from.proto.transport()),
            Err(e) => return e.response(),
        };
        // RFC 5630 §3.1.3 and §4.1: a SIPS address is only reached, so only registered, over TLS.
        if !from.proto.is_secure()
            && (is_sips(ruri) || is_sips(to) || h.contact.iter().any(|c| is_sips(uri_in(c))))
        {
            return Response::warning(403, "a sips: address is registered over TLS only");
        }
        let mut r = match self.svc.register_at(now, &req).await {
            Ok(out) => {
                let mut r = helpers::register_response(&out);
                if let Some(caps) = self.svc.push_feature_caps(&req) {
                    r = r.with("Feature-Caps", caps);
                }
                if out.outbound && from.proto.is_stream() {
                    // RFC 5626 §5.2: the flow this outbound registration came over; its closing ends it.
                    self.flow_registered(from, &out.aor);
                    if self.cfg.flow_timer > 0 {
                        r = r.with("Flow-Timer", self.cfg.flow_timer.to_string());
                    }
                }
                r
            }
            Err(e) => helpers::Error::from(e).response(),
        };
        if r.status == 200 && !h.path.is_empty() {
            // RFC 3327 §5.3: echo the Path when the UA supports it.
            for p in &h.path {
                r = r.with("Path", (*p).to_owned());
            }
        }
        r
    }

    pub(super) async fn publish(&self, now: Timestamp, msg: &Message) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        if !self.serves(uri_host(ruri)) {
            return Response::warning(404, "not a domain served here");
        }
        match self.authenticate(now, msg) {
            Ok(Some(user)) if uri_user(ruri) != Some(user.as_str()) => {
                return Response::warning(403, "credentials do not match the presentity");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        let body = match decoded_body(msg) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let h = PublishHeaders {
            request_uri: ruri,
            event: msg.header(Hdr::Event).unwrap_or(""),
            sip_if_match: msg.header(Hdr::SipIfMatch),
            expires: msg.header(Hdr::Expires),
            content_type: msg.header(Hdr::ContentType),
            body: &body,
        };
        if h.event.is_empty() {
            return Response::new(489)
                .with("Allow-Events", registrar_core::sip::ALLOW_EVENTS.to_owned());
        }
        helpers::handle_publish_at(&self.svc, now, &h).await
    }

    pub(super) async fn subscribe(
        &self,
        now: Timestamp,
        msg: &Message,
        from: Peer,
        local: SocketAddr,
    ) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        let event_raw = msg.header(Hdr::Event).unwrap_or("");
        if event_raw.is_empty() {
            return Response::new(489)
                .with("Allow-Events", registrar_core::sip::ALLOW_EVENTS.to_owned());
        }
        if !self.serves(uri_host(ruri)) {
            return Response::warning(404, "not a domain served here");
        }
        let from_uri = uri_in(msg.header(Hdr::From).unwrap_or(""));
        match self.authenticate(now, msg) {
            Ok(Some(user)) if uri_user(from_uri) != Some(user.as_str()) => {
                return Response::warning(403, "credentials do not match the subscriber");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        let Some(from_tag) = msg.from_tag() else {
            return Response::warning(400, "From has no tag");
        };
        let mut parts = event_raw.split(';');
        let package = parts.next().unwrap_or("").trim();
        let event_id = parts
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("id"))
            .map(|(_, v)| v.trim().to_owned());
        let to_tag = msg.to_tag().map(str::to_owned);
        let local_tag = to_tag.clone().unwrap_or_else(|| self.token(now));
        let body = match decoded_body(msg) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let accept: Vec<&str> = msg.values(Hdr::Accept).collect();
        let accept_joined = accept.join(", ");
        let h = SubscribeHeaders {
            request_uri: ruri,
            from: from_uri,
            from_tag,
            to_tag: to_tag.as_deref(),
            local_tag: &local_tag,
            call_id: msg.header(Hdr::CallId).unwrap_or(""),
            event: package,
            expires: msg.header(Hdr::Expires),
            accept: (!accept.is_empty()).then_some(accept_joined.as_str()),
            supported: msg.values(Hdr::Supported).collect(),
            require: msg.values(Hdr::Require).collect(),
            content_type: msg.header(Hdr::ContentType),
            body: &body,
        };
        let (mut req, eventlist) = match helpers::subscribe_request(&h) {
            Ok(r) => r,
            Err(e) => return e.response(),
        };
        let contact = msg.list(Hdr::Contact).next().map(|c| uri_in(c).to_owned());
        if !from.proto.is_secure() && (is_sips(ruri) || contact.as_deref().is_some_and(is_sips)) {
            return Response::warning(403, "a sips: subscription is made over TLS only");
        }
        // A device that was given a GRUU may use it as its Contact (browser phones do): the NOTIFYs go to
        // the flow its registration came over (RFC 5627 §5.1, RFC 5626 §5.3) when that is a connection.
        let target_peer = match &contact {
            Some(c) => self.gruu_flow(now, c, from).await.unwrap_or(from),
            None => from,
        };
        let dialog = req.dialog.clone();
        let existed = self.dialogs.contains_key(&dialog);
        if to_tag.is_some() && !existed {
            return Response::new(481);
        }
        let local_host = self.local_hostport(local, msg);
        if existed {
            if let Some(c) = contact
                && let Some(mut r) = self.dialogs.get_mut(&dialog)
            {
                r.remote_target = c;
                r.peer = target_peer;
                req.route = Some(Arc::from(r.encode()));
            }
        } else {
            let Some(target) = contact else {
                return Response::warning(400, "SUBSCRIBE without Contact");
            };
            let to_raw = msg.header(Hdr::To).unwrap_or("");
            let route = Route {
                peer: target_peer,
                local: local_host.clone(),
                remote_target: target,
                from: format!("{to_raw};tag={local_tag}"),
                to: msg.header(Hdr::From).unwrap_or("").to_owned(),
                route_set: msg.list(Hdr::RecordRoute).map(str::to_owned).collect(),
                event_id,
                dead: false,
            };
            req.route = Some(Arc::from(route.encode()));
            self.dialogs.insert(dialog.clone(), route);
        }
        match self.svc.subscribe_at(now, &req, eventlist).await {
            Ok(out) => {
                let mut r = helpers::subscribe_response(&out);
                r.to_tag = Some(local_tag);
                let scheme = if is_sips(ruri) { "sips" } else { "sip" };
                let transport = if scheme == "sips" && from.proto == Proto::Tls {
                    ""
                } else {
                    from.proto.uri_param()
                };
                r.with("Contact", format!("<{scheme}:{local_host}{transport}>"))
            }
            Err(e) => {
                if !existed {
                    self.dialogs.remove(&dialog);
                }
                helpers::Error::from(e).response()
            }
        }
    }

    /// For a Contact that is a GRUU this server issued, the connection its binding registered over (with
    /// the connection left for the transport to find by address: the one the REGISTER came on may have been
    /// replaced by the device since); `None` for anything else.
    async fn gruu_flow(&self, now: Timestamp, contact: &str, from: Peer) -> Option<Peer> {
        if !contact.contains(";gr") {
            return None;
        }
        let uri: registrar_types::SipUri = contact.parse().ok()?;
        let b = self.svc.resolve_gruu_at(now, &uri).await.ok()??;
        let proto = Proto::from_transport(b.transport.as_ref()?)?;
        let addr = b.source?;
        if !proto.is_stream() || b.reg_id.is_none() {
            return None;
        }
        if from.proto == proto && from.addr == addr {
            // The SUBSCRIBE came over that very connection.
            return Some(from);
        }
        Some(Peer {
            proto,
            addr,
            conn: None,
        })
    }

    pub(super) fn local_hostport(&self, local: SocketAddr, msg: &Message) -> String {
        if !local.ip().is_unspecified() {
            return local.to_string();
        }
        if let Some(a) = &self.cfg.advertise {
            return a.clone();
        }
        // A wildcard listener with nothing advertised: the host the peer addressed, on our port.
        let host = uri_host(msg.request_uri().unwrap_or(""));
        format!("{host}:{}", local.port())
    }
}

/// Whether a URI is a `sips:` one.
/// The largest body a `Content-Encoding: deflate` request may inflate to.
const MAX_INFLATED: usize = 256 * 1024;

/// A request's body without its content coding: as it came (`identity` or none), or inflated from
/// `deflate` (RFC 1950 zlib data, as liblinphone sends its resource lists, or raw RFC 1951 data), at most
/// [`MAX_INFLATED`] bytes. Another coding is 415 with `Accept-Encoding`; data that does not inflate, or
/// inflates past the limit, is 400.
pub(super) fn decoded_body(msg: &Message) -> Result<std::borrow::Cow<'_, [u8]>, Response> {
    let body = msg.body();
    let coding = msg.header(Hdr::ContentEncoding).map_or("", str::trim);
    if body.is_empty() || coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    if !coding.eq_ignore_ascii_case("deflate") {
        return Err(Response::new(415).with("Accept-Encoding", "identity, deflate".to_owned()));
    }
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(body, MAX_INFLATED)
        .or_else(|_| miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_INFLATED))
        .map(std::borrow::Cow::Owned)
        .map_err(|_| {
            Response::warning(
                400,
                "the deflate body does not inflate (or is over 256 KiB)",
            )
        })
}

pub(super) fn is_sips(uri: &str) -> bool {
    uri.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
}
