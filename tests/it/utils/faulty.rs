//! Misbehaving receivers on raw sockets: what an HTTP framework would never
//! let a test server do (hang, reset, garbage, cut a response short).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a [`FaultyReceiver`] misbehaves.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer 200, but only after this long.
    Slow(Duration),
    /// Read the request, never answer, keep the connection open until the
    /// sender gives up (closes it), at most 60 s.
    Hang,
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Answer this status with these headers, every time (e.g. a 500 storm, 429 + Retry-After).
    Status(u16, Vec<(&'static str, String)>),
    /// Answer bytes that are not HTTP.
    Garbage,
    /// Send a status line and half a header block, then close.
    CloseMidResponse,
}

/// One request the receiver read.
#[derive(Debug, Clone)]
pub struct Hit {
    pub webhook_id: Option<String>,
    pub at: Instant,
}

/// A loopback receiver that misbehaves in one way.
pub struct FaultyReceiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    hangs_ended: Arc<Mutex<Vec<Instant>>>,
}

impl FaultyReceiver {
    pub fn start(fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let hangs_ended = Arc::new(Mutex::new(Vec::new()));
        let (h, e) = (hits.clone(), hangs_ended.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (fault, hits, ended) = (fault.clone(), h.clone(), e.clone());
                std::thread::spawn(move || serve(stream, &fault, &hits, &ended));
            }
        });
        Self {
            url,
            hits,
            hangs_ended,
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// When each hung request's connection ended ([`Fault::Hang`]): the
    /// sender gave up on it (timeout, cancelled attempt), or 60 s passed.
    pub fn hangs_ended(&self) -> Vec<Instant> {
        self.hangs_ended.lock().unwrap().clone()
    }
}

fn serve(
    mut s: TcpStream,
    fault: &Fault,
    hits: &Mutex<Vec<Hit>>,
    hangs_ended: &Mutex<Vec<Instant>>,
) {
    // Keep-alive only matters for well-formed answers; every other fault ends the connection.
    while let Some(headers) = read_request(&mut s) {
        hits.lock().unwrap().push(Hit {
            webhook_id: headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("webhook-id"))
                .map(|(_, v)| v.clone()),
            at: Instant::now(),
        });
        match fault {
            Fault::Slow(d) => {
                std::thread::sleep(*d);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
            Fault::Hang => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                let mut rest = [0u8; 1024];
                while matches!(s.read(&mut rest), Ok(n) if n > 0) {}
                hangs_ended.lock().unwrap().push(Instant::now());
                return;
            }
            Fault::Reset => {
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: a valid socket fd and a correctly sized option value.
                unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    );
                }
                return; // dropped with linger 0: RST
            }
            Fault::Status(status, extra) => {
                let mut head = format!("HTTP/1.1 {status} Fault\r\ncontent-length: 0\r\n");
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
            Fault::Garbage => {
                let _ = s.write_all(b"SPLORK 9000 \x00\x01\x02 not http at all\r\n\r\n");
                return;
            }
            Fault::CloseMidResponse => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-ty");
                let _ = s.flush();
                return;
            }
        }
    }
}

/// Read one request (headers and a content-length body); `None` at EOF or on error.
fn read_request(s: &mut TcpStream) -> Option<Vec<(String, String)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - end;
    while have < len {
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        have += n;
    }
    Some(headers)
}
