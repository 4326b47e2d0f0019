//! Built-in network probes: TCP connect, HTTP GET (plain http), SIP OPTIONS over UDP.
//! Each is one async attempt bounded by the caller's timeout.

use std::{
    net::SocketAddr,
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpStream, UdpSocket},
};

use super::Outcome;

/// Healthy when a TCP handshake with `addr` completes.
pub(crate) async fn tcp_connect(addr: SocketAddr) -> Outcome {
    let started = Instant::now();
    match TcpStream::connect(addr).await {
        Ok(_) => Outcome::up(format!("connected to {addr} in {:.0?}", started.elapsed())),
        Err(e) => Outcome::down(format!("connecting to {addr}: {e}")),
    }
}

/// An `http://host[:port][/path]` URL, the only kind the HTTP probe takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// As written, for the `Host` header and name resolution (brackets kept for IPv6).
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl> {
        let Some(rest) = url.strip_prefix("http://") else {
            if url.starts_with("https://") {
                bail!("{url}: https is not supported by the built-in HTTP check (use a script)");
            }
            bail!("{url}: the HTTP check takes http://host[:port]/path");
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target
        };
        let target = target.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            bail!("{url}: credentials in the URL are not supported");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .with_context(|| format!("{url}: unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().with_context(|| format!("{url}: bad port"))?,
                None if after.is_empty() => 80,
                None => bail!("{url}: junk after the IPv6 address"),
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().with_context(|| format!("{url}: bad port"))?,
                ),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || host == "[]" {
            bail!("{url}: no host");
        }
        Ok(HttpUrl { host, port, target })
    }

    fn connect_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Healthy when `GET url` answers with a status in `expect`. Reads the status line only.
pub(crate) async fn http_get(url: &str, expect: &RangeInclusive<u16>) -> Outcome {
    match http_status(url).await {
        Ok((status, line)) if expect.contains(&status) => Outcome::up(line),
        Ok((_, line)) => Outcome::down(format!(
            "{line} (expected {}-{})",
            expect.start(),
            expect.end()
        )),
        Err(e) => Outcome::down(format!("GET {url}: {e:#}")),
    }
}

async fn http_status(url: &str) -> Result<(u16, String)> {
    let u = HttpUrl::parse(url)?;
    let mut stream = TcpStream::connect((u.connect_host(), u.port))
        .await
        .with_context(|| format!("connecting to {}:{}", u.host, u.port))?;
    // HTTP/1.0 with `Connection: close`: one request, the server closes, no chunking to handle.
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: havip-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        u.target,
        u.host_header()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    loop {
        if let Some(end) = head.iter().position(|b| *b == b'\n') {
            head.truncate(end);
            break;
        }
        if head.len() > 8192 {
            bail!("no status line in the first 8 KiB");
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            if head.is_empty() {
                bail!("the server closed the connection without answering");
            }
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).trim_end().to_string();
    let mut parts = line.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        bail!("not an HTTP status line: {line:?}");
    };
    if !version.starts_with("HTTP/") {
        bail!("not an HTTP status line: {line:?}");
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    Ok((status, line))
}

/// Healthy when any SIP response to an OPTIONS request arrives (a gateway that answers
/// `404` or `483` is alive; the check is about reachability, not about what it says).
/// The request is retransmitted on SIP's timer E schedule (500 ms, doubling) until the
/// caller's timeout, since a single lost datagram must not fail the check.
pub(crate) async fn sip_options(addr: SocketAddr) -> Outcome {
    match sip_exchange(addr).await {
        Ok(line) => Outcome::up(line),
        Err(e) => Outcome::down(format!("SIP OPTIONS to {addr}: {e:#}")),
    }
}

async fn sip_exchange(addr: SocketAddr) -> Result<String> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind).await?;
    // Connected: only `addr` can answer, and an ICMP port unreachable fails the check at once.
    sock.connect(addr).await?;
    let local = sock.local_addr()?;
    let req = SipRequest::new(addr, local);
    let bytes = req.encode();
    let mut resend = Duration::from_millis(500);
    let mut buf = vec![0u8; 4096];
    loop {
        sock.send(&bytes).await.context("sending")?;
        let deadline = tokio::time::Instant::now() + resend;
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break, // retransmit
                Ok(Err(e)) => return Err(e).context("receiving"),
                Ok(Ok(n)) => {
                    if let Some(line) = req.matching_response(&buf[..n]) {
                        return Ok(line);
                    }
                }
            }
        }
        resend = (resend * 2).min(Duration::from_secs(4));
    }
}

/// One OPTIONS request with fresh branch, tag and Call-ID.
struct SipRequest {
    target: SocketAddr,
    local: SocketAddr,
    branch: String,
    tag: String,
    call_id: String,
}

impl SipRequest {
    fn new(target: SocketAddr, local: SocketAddr) -> SipRequest {
        SipRequest {
            target,
            local,
            // RFC 3261 §8.1.1.7: branches start with the magic cookie z9hG4bK.
            branch: format!("z9hG4bK{}", random_hex(12)),
            tag: random_hex(8),
            call_id: format!("{}@havip", random_hex(16)),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let uri = sip_uri(self.target);
        let local = sip_hostport(self.local);
        format!(
            "OPTIONS {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:havip@{local}>;tag={tag}\r\n\
             To: <{uri}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Contact: <sip:havip@{local}>\r\n\
             Accept: application/sdp\r\n\
             User-Agent: havip-check\r\n\
             Content-Length: 0\r\n\r\n",
            branch = self.branch,
            tag = self.tag,
            call_id = self.call_id,
        )
        .into_bytes()
    }

    /// The status line of `datagram` if it is a SIP response to this request. A response that
    /// names another Call-ID (a stray answer to an earlier probe) does not count; one without a
    /// Call-ID does (minimal responders omit it).
    fn matching_response(&self, datagram: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(datagram);
        let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
        let status = lines.next()?.trim();
        let code = status.strip_prefix("SIP/2.0 ")?.get(..3)?;
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if (name.eq_ignore_ascii_case("call-id") || name == "i") && value.trim() != self.call_id
            {
                return None;
            }
        }
        Some(status.to_string())
    }
}

fn sip_hostport(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

fn sip_uri(a: SocketAddr) -> String {
    format!("sip:{}", sip_hostport(a))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if rustix::rand::getrandom(&mut buf[..], rustix::rand::GetRandomFlags::empty())
        .is_ok_and(|n| n == bytes)
    {
        return buf.iter().map(|b| format!("{b:02x}")).collect();
    }
    // getrandom cannot fail for small requests on Linux ≥ 3.17; fall back to the clock.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (t >> ((i % 16) * 8)) as u8 ^ (std::process::id() as u8);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/health?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8080));
        assert_eq!(u.target, "/health?x=1");
        assert_eq!(u.host_header(), "127.0.0.1:8080");
        let u = HttpUrl::parse("http://gw.example").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("gw.example", 80, "/")
        );
        assert_eq!(u.host_header(), "gw.example");
        let u = HttpUrl::parse("http://[::1]:81/a#frag").unwrap();
        assert_eq!(
            (u.connect_host(), u.port, u.target.as_str()),
            ("::1", 81, "/a")
        );
        assert_eq!(u.host_header(), "[::1]:81");
        assert_eq!(HttpUrl::parse("http://h?q").unwrap().target, "/?q");
        for bad in [
            "https://x/",
            "ftp://x/",
            "http://",
            "http://:80/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://[::1/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sip_request_is_well_formed() {
        let req = SipRequest::new(
            "192.0.2.7:5060".parse().unwrap(),
            "192.0.2.1:40000".parse().unwrap(),
        );
        let text = String::from_utf8(req.encode()).unwrap();
        assert!(text.starts_with("OPTIONS sip:192.0.2.7:5060 SIP/2.0\r\n"));
        assert!(text.contains("\r\nVia: SIP/2.0/UDP 192.0.2.1:40000;branch=z9hG4bK"));
        assert!(text.contains(&format!("\r\nCall-ID: {}\r\n", req.call_id)));
        assert!(text.contains("\r\nCSeq: 1 OPTIONS\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let other = SipRequest::new(req.target, req.local);
        assert_ne!(req.branch, other.branch);
        assert_ne!(req.call_id, other.call_id);
    }

    #[test]
    fn any_sip_response_to_our_request_counts() {
        let req = SipRequest::new(
            "192.0.2.7:5060".parse().unwrap(),
            "192.0.2.1:40000".parse().unwrap(),
        );
        let ours = format!("SIP/2.0 404 Not Found\r\nCall-ID: {}\r\n\r\n", req.call_id);
        assert_eq!(
            req.matching_response(ours.as_bytes()).as_deref(),
            Some("SIP/2.0 404 Not Found")
        );
        let compact = format!("SIP/2.0 200 OK\r\ni: {}\r\n\r\n", req.call_id);
        assert!(req.matching_response(compact.as_bytes()).is_some());
        assert!(req.matching_response(b"SIP/2.0 200 OK\r\n\r\n").is_some());
        assert!(req
            .matching_response(b"SIP/2.0 200 OK\r\nCall-ID: other@x\r\n\r\n")
            .is_none());
        assert!(req
            .matching_response(b"OPTIONS sip:x SIP/2.0\r\n")
            .is_none());
        assert!(req.matching_response(b"HTTP/1.1 200 OK\r\n").is_none());
        assert!(req.matching_response(b"SIP/2.0 2x0 OK\r\n").is_none());
    }
}
