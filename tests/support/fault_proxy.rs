//! A fault-injecting HTTP proxy, placed in front of the real registry: it forwards every request
//! unchanged except the ones a rule picks, which get an error status (503, 429 with Retry-After),
//! a connection dropped in the middle of the request body, or a slow link for the request body;
//! or, with [`RandomFaults`], a seeded share of the write requests picked at random, which get
//! one of the faults a flaky registry or network shows once the request body was sent (a 500, a
//! connection dropped without an answer, a reset in the middle of the body, an answer that never
//! comes). Only for fault injection: the registry behind it is the real one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What a rule does to the requests it picks.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and, for 429, `Retry-After: 1`), without forwarding.
    Status(u16),
    /// Forward the request head and this many bytes of the body, then drop both connections.
    ResetAfterBodyBytes(usize),
    /// Forward the request, its body at no more than this many bytes per second (a slow link).
    SlowBody(usize),
    /// Answer with this status, extra header lines (`Name: value`) and body, without forwarding
    /// (a registry serving something malformed).
    Respond {
        status: u16,
        headers: Vec<String>,
        body: Vec<u8>,
    },
    /// Read the whole request body, then answer 500 without forwarding.
    ErrorAfterBody,
    /// Read the whole request body, then close the connection without an answer.
    DropAfterBody,
    /// Read part of the request body, then reset the connection.
    ResetMidBody,
    /// Read the whole request body, then never answer (until the client gives up).
    StallAfterBody,
    /// Forward the request whole, then drop the connection instead of passing the answer on
    /// (the registry did it; the client never hears so).
    LoseAnswer,
}

impl Fault {
    /// A short name, for messages and the fault log.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Status(_) => "status",
            Fault::ResetAfterBodyBytes(_) => "reset after some body bytes",
            Fault::SlowBody(_) => "slow body",
            Fault::Respond { .. } => "canned answer",
            Fault::ErrorAfterBody => "500 after the body",
            Fault::DropAfterBody => "connection dropped after the body",
            Fault::ResetMidBody => "connection reset mid-body",
            Fault::StallAfterBody => "answer stalled after the body",
            Fault::LoseAnswer => "answer lost after the registry took the request",
        }
    }
}

/// Faults picked at random, replayably: each request whose method is one of `methods` gets, with
/// probability `percent`/100, one of `faults` (uniformly); the choices come from a generator
/// seeded with `seed`, in the order requests arrive.
#[derive(Clone, Debug)]
pub struct RandomFaults {
    pub seed: u64,
    pub percent: u32,
    pub methods: Vec<&'static str>,
    pub faults: Vec<Fault>,
}

impl RandomFaults {
    /// The soak's mix: `percent` of POST, PATCH and PUT requests get a 500 after the body, a
    /// connection dropped after the body, a reset mid-body or a stalled answer.
    pub fn writes(seed: u64, percent: u32) -> Self {
        Self {
            seed,
            percent,
            methods: vec!["POST", "PATCH", "PUT"],
            faults: vec![
                Fault::ErrorAfterBody,
                Fault::DropAfterBody,
                Fault::ResetMidBody,
                Fault::StallAfterBody,
            ],
        }
    }
}

/// The random half of the proxy's rules: the settings and the generator's state.
struct Dice {
    faults: RandomFaults,
    state: u64,
}

impl Dice {
    fn new(faults: RandomFaults) -> Self {
        let state = faults.seed ^ 0x9e37_79b9_7f4a_7c15;
        Self { faults, state }
    }

    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn roll(&mut self, method: &str) -> Option<Fault> {
        if !self.faults.methods.contains(&method) || self.faults.faults.is_empty() {
            return None;
        }
        let hit = self.next() % 100 < u64::from(self.faults.percent);
        let pick = self.next() as usize % self.faults.faults.len();
        hit.then(|| self.faults.faults[pick].clone())
    }
}

/// Picks requests by method and a substring of the path, for the first `times` matches.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path_contains: &'static str,
    pub fault: Fault,
    pub times: usize,
}

impl Rule {
    pub fn new(
        method: &'static str,
        path_contains: &'static str,
        fault: Fault,
        times: usize,
    ) -> Self {
        Self {
            method,
            path_contains,
            fault,
            times,
        }
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    address: String,
    injected: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
    flows: Arc<Flows>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (`host:port`).
    pub fn start(upstream: &str, rules: Vec<Rule>) -> Self {
        Self::start_with(upstream, rules, None)
    }

    /// Starts a proxy whose faults are picked at random (see [`RandomFaults`]).
    pub fn start_random(upstream: &str, faults: RandomFaults) -> Self {
        Self::start_with(upstream, Vec::new(), Some(faults))
    }

    fn start_with(upstream: &str, rules: Vec<Rule>, random: Option<RandomFaults>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let address = listener.local_addr().expect("proxy address").to_string();
        let injected = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rules = Arc::new(Rules {
            fixed: Mutex::new(rules),
            dice: Mutex::new(random.map(Dice::new)),
            log: Arc::clone(&log),
            stop: Arc::clone(&stop),
        });
        let requests = Arc::new(Mutex::new(Vec::new()));
        let flows = Arc::new(Flows::default());
        let upstream = upstream.to_string();
        {
            let injected = Arc::clone(&injected);
            let requests = Arc::clone(&requests);
            let flows = Arc::clone(&flows);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let upstream = upstream.clone();
                            let rules = Arc::clone(&rules);
                            let injected = Arc::clone(&injected);
                            let requests = Arc::clone(&requests);
                            let flows = Arc::clone(&flows);
                            thread::spawn(move || {
                                let _ =
                                    serve(client, &upstream, &rules, &injected, &requests, &flows);
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Self {
            address,
            injected,
            log,
            flows,
            requests,
            stop,
        }
    }

    /// The most PATCH requests (blob uploads) that were forwarded at the same time.
    pub fn most_patches_at_once(&self) -> usize {
        self.flows.most.load(Ordering::SeqCst)
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// How many requests with this method and a path containing `path_contains` passed.
    pub fn requests(&self, method: &str, path_contains: &str) -> usize {
        self.requests
            .lock()
            .expect("requests lock")
            .iter()
            .filter(|(m, p)| m == method && p.contains(path_contains))
            .count()
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    /// Every fault injected so far, as `METHOD path: fault`, in order.
    pub fn fault_log(&self) -> Vec<String> {
        self.log.lock().expect("fault log lock").clone()
    }

    /// How many faults of this kind were injected so far.
    pub fn injected_of(&self, fault: &Fault) -> usize {
        let suffix = format!(": {}", fault.name());
        self.fault_log()
            .iter()
            .filter(|line| line.ends_with(&suffix))
            .count()
    }
}

/// What picks the faults: the fixed rules first, then the dice.
struct Rules {
    fixed: Mutex<Vec<Rule>>,
    dice: Mutex<Option<Dice>>,
    log: Arc<Mutex<Vec<String>>>,
    /// The proxy was dropped: stalled connections are let go.
    stop: Arc<AtomicBool>,
}

impl Rules {
    fn pick(&self, method: &str, path: &str) -> Option<Fault> {
        let fixed = {
            let mut rules = self.fixed.lock().expect("rules lock");
            rules
                .iter_mut()
                .find(|r| r.times > 0 && r.method == method && path.contains(r.path_contains))
                .map(|rule| {
                    rule.times -= 1;
                    rule.fault.clone()
                })
        };
        let fault = fixed.or_else(|| {
            self.dice
                .lock()
                .expect("dice lock")
                .as_mut()
                .and_then(|dice| dice.roll(method))
        })?;
        self.log
            .lock()
            .expect("fault log lock")
            .push(format!("{method} {path}: {}", fault.name()));
        Some(fault)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// PATCH requests being forwarded now, and the most there were at once.
#[derive(Default)]
struct Flows {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Counts one forwarded PATCH while it lives.
struct Flow<'a>(Option<&'a Flows>);

impl<'a> Flow<'a> {
    fn start(flows: &'a Flows, method: &str) -> Self {
        if method != "PATCH" {
            return Self(None);
        }
        let now = flows.now.fetch_add(1, Ordering::SeqCst) + 1;
        flows.most.fetch_max(now, Ordering::SeqCst);
        Self(Some(flows))
    }
}

impl Drop for Flow<'_> {
    fn drop(&mut self) {
        if let Some(flows) = self.0 {
            flows.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to`, at no more than `rate` bytes per second when given.
fn copy_at(from: &mut TcpStream, to: &mut TcpStream, rate: Option<usize>) {
    let started = std::time::Instant::now();
    let mut copied = 0usize;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to.write_all(&buffer[..n]).is_err() {
            return;
        }
        copied += n;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(copied as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                thread::sleep(wait);
            }
        }
    }
}

/// Serves one client connection: one request (the proxy asks both sides to close after it).
fn serve(
    mut client: TcpStream,
    upstream: &str,
    rules: &Rules,
    injected: &AtomicUsize,
    requests: &Mutex<Vec<(String, String)>>,
    flows: &Flows,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    // A TLS handshake (a docker daemon tries https first even for a registry it may reach over
    // http): close at once, so it falls back to http now rather than after its TLS timeout.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 1 && first[0] == 0x16 {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let (head, rest) = read_head(&mut client)?;
    let head_text = String::from_utf8_lossy(&head).to_string();
    let mut first = head_text.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    requests
        .lock()
        .expect("requests lock")
        .push((method.clone(), path.clone()));

    let fault = rules.pick(&method, &path);
    match fault {
        Some(Fault::ErrorAfterBody) => {
            injected.fetch_add(1, Ordering::SeqCst);
            read_body(&mut client, &head_text, rest)?;
            client.write_all(
                b"HTTP/1.1 500 Injected Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Some(Fault::DropAfterBody) => {
            injected.fetch_add(1, Ordering::SeqCst);
            read_body(&mut client, &head_text, rest)?;
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Some(Fault::ResetMidBody) => {
            injected.fetch_add(1, Ordering::SeqCst);
            // Take a little of the body, then close with the rest unread: the kernel answers
            // the client's next segments with a reset.
            let mut buffer = [0u8; 16 * 1024];
            client.set_read_timeout(Some(Duration::from_millis(500)))?;
            let _ = client.read(&mut buffer);
            drop(client);
            Ok(())
        }
        Some(Fault::StallAfterBody) => {
            injected.fetch_add(1, Ordering::SeqCst);
            read_body(&mut client, &head_text, rest)?;
            // Hold the connection, answering nothing, until the client closes it or the proxy
            // stops (at most 10 minutes, so that no thread stays for ever).
            client.set_read_timeout(Some(Duration::from_secs(1)))?;
            let started = std::time::Instant::now();
            let mut buffer = [0u8; 4096];
            while !rules.stop.load(Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(600)
            {
                match client.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            Ok(())
        }
        Some(Fault::LoseAnswer) => {
            injected.fetch_add(1, Ordering::SeqCst);
            let body = read_body(&mut client, &head_text, rest)?;
            let mut server = TcpStream::connect(upstream)?;
            server.write_all(&force_close(&head_text))?;
            server.write_all(&body)?;
            // The registry's whole answer, read and thrown away.
            let _ = std::io::copy(&mut server, &mut std::io::sink());
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Some(Fault::Status(code)) => {
            injected.fetch_add(1, Ordering::SeqCst);
            let reason = match code {
                429 => "Too Many Requests",
                502 => "Bad Gateway",
                503 => "Service Unavailable",
                _ => "Injected Fault",
            };
            let retry_after = if code == 429 {
                "Retry-After: 1\r\n"
            } else {
                ""
            };
            let answer = format!(
                "HTTP/1.1 {code} {reason}\r\n{retry_after}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(answer.as_bytes())?;
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => {
            injected.fetch_add(1, Ordering::SeqCst);
            let mut answer = format!("HTTP/1.1 {status} Injected\r\n");
            for header in headers {
                answer.push_str(&header);
                answer.push_str("\r\n");
            }
            answer.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            client.write_all(answer.as_bytes())?;
            if method != "HEAD" {
                client.write_all(&body)?;
            }
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Some(Fault::ResetAfterBodyBytes(limit)) => {
            injected.fetch_add(1, Ordering::SeqCst);
            let mut server = TcpStream::connect(upstream)?;
            server.write_all(&force_close(&head_text))?;
            let mut sent = rest.len().min(limit);
            server.write_all(&rest[..sent])?;
            let mut buffer = [0u8; 16 * 1024];
            while sent < limit {
                let n = client.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                let take = n.min(limit - sent);
                server.write_all(&buffer[..take])?;
                sent += take;
            }
            let _ = server.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
            Ok(())
        }
        fault @ (None | Some(Fault::SlowBody(_))) => {
            let rate = match fault {
                Some(Fault::SlowBody(rate)) => {
                    injected.fetch_add(1, Ordering::SeqCst);
                    Some(rate)
                }
                _ => None,
            };
            let _flow = Flow::start(flows, &method);
            let mut server = TcpStream::connect(upstream)?;
            server.write_all(&force_close(&head_text))?;
            server.write_all(&rest)?;
            let mut to_server = client.try_clone()?;
            let mut from_client = client.try_clone()?;
            let mut server_writer = server.try_clone()?;
            let upload = thread::spawn(move || {
                copy_at(&mut from_client, &mut server_writer, rate);
            });
            let _ = std::io::copy(&mut server, &mut to_server);
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            let _ = upload.join();
            Ok(())
        }
    }
}

/// Reads the rest of the request body (framed by `Content-Length` or chunked); `rest` is what
/// was read with the head. Returns the body as it came (still chunked, if it was).
fn read_body(client: &mut TcpStream, head: &str, rest: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    let mut data = rest;
    let mut buffer = [0u8; 64 * 1024];
    let mut more = |data: &mut Vec<u8>| -> std::io::Result<()> {
        let n = client.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buffer[..n]);
        Ok(())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // Walks the chunks: size line, data, CRLF; a zero size, trailers, an empty line.
        let mut at = 0;
        loop {
            let line_end = loop {
                if let Some(end) = data[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + end;
                }
                more(&mut data)?;
            };
            let size_text = String::from_utf8_lossy(&data[at..line_end]).to_string();
            let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
            let size = usize::from_str_radix(&size_text, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    while !data[at..].windows(2).any(|w| w == b"\r\n") {
                        more(&mut data)?;
                    }
                    let end = at
                        + data[at..]
                            .windows(2)
                            .position(|w| w == b"\r\n")
                            .expect("found above");
                    let empty = end == at;
                    at = end + 2;
                    if empty {
                        data.truncate(at);
                        return Ok(data);
                    }
                }
            }
            while data.len() < at + size + 2 {
                more(&mut data)?;
            }
            at += size + 2;
        }
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < length {
        more(&mut data)?;
    }
    Ok(data)
}

/// Reads up to the end of the request head; returns the head and any body bytes read with it.
fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return Ok((data, rest));
        }
        let n = client.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buffer[..n]);
    }
}

/// The request head with `Connection: close`, so one connection carries one request.
fn force_close(head: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in head.trim_end_matches("\r\n\r\n").split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// A plan of one image pushed through a fault proxy in front of the test registry: what the
/// fault tests share.
pub struct ProxiedPlan {
    /// The proxy (its faults and counts).
    pub proxy: FaultProxy,
    /// The plan's folder.
    pub dir: crate::PlanDir,
    /// The image as the plan names it: the proxy's address, then the folder's repository path.
    pub through_proxy: String,
}

impl ProxiedPlan {
    /// A plan folder `name` whose one image (a Dockerfile of `run` over the test base) is pushed
    /// through a proxy applying `rules` before the test registry, for `platforms` (the plan's
    /// default ones when empty).
    pub fn new(name: &str, rules: Vec<Rule>, run: &str, platforms: &[&str]) -> Self {
        let proxy = FaultProxy::start(&crate::TestEnv::get().registry, rules);
        Self::through(proxy, name, run, platforms)
    }

    /// [`Self::new`] with random faults instead of rules.
    pub fn random(name: &str, faults: RandomFaults, run: &str, platforms: &[&str]) -> Self {
        let proxy = FaultProxy::start_random(&crate::TestEnv::get().registry, faults);
        Self::through(proxy, name, run, platforms)
    }

    fn through(proxy: FaultProxy, name: &str, run: &str, platforms: &[&str]) -> Self {
        let dir = crate::PlanDir::new(name);
        dir.write("Dockerfile", &crate::dockerfile(run));
        let through_proxy = format!("{}/{}", proxy.address(), dir.repo_path());
        let image = crate::Image::new(&through_proxy);
        let image = if platforms.is_empty() {
            image
        } else {
            image.platforms(platforms)
        };
        dir.write_plan(&[image]);
        Self {
            proxy,
            dir,
            through_proxy,
        }
    }
}
