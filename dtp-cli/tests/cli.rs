//! The `dtp` binary end to end, as a process: transfer, rerun, interrupt
//! (SIGINT) and resume, verify, `--json` output, bad input, a full disk, and
//! the archive read back by software that is not dtp.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/sample")
}

/// A hermetic home for one test: data and config folders of its own.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn dtp(&self) -> Command {
        let mut c = Command::cargo_bin("dtp").unwrap();
        c.env("DTP_DATA_DIR", self.path("data"))
            .env("DTP_CONFIG_DIR", self.path("config"))
            .env_remove("DTP_SECRET_KEY")
            .env_remove("DTP_LOG");
        c
    }

    fn std(&self) -> StdCommand {
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("dtp"));
        c.env("DTP_DATA_DIR", self.path("data"))
            .env("DTP_CONFIG_DIR", self.path("config"));
        c
    }
}

fn json_of(out: &[u8]) -> Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

fn one_line_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).to_string();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
    lines[0].to_string()
}

#[test]
fn transfer_rerun_jobs_and_verify_with_json() {
    let env = Env::new();
    let out = env.path("out");
    let to = format!("local:{}", out.display());
    let from = format!("local:{}", sample().display());

    let first = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to, "--json"])
        .assert()
        .success();
    let report = json_of(&first.get_output().stdout);
    assert_eq!(report["state"], "complete");
    assert_eq!(report["total_items"], 17);
    assert_eq!(report["per_type"]["media"]["created"], 3);
    assert_eq!(report["per_type"]["mail"]["containers"], 3);
    assert!(report["failures"].as_array().unwrap().is_empty());
    let job = report["job_id"].as_str().unwrap().to_string();
    assert!(
        report["destination_summary"]
            .as_str()
            .unwrap()
            .contains("17 new, 0 already there")
    );

    // The README's promise: running it again transfers nothing new.
    let files_before = count_files(&out);
    let again = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to, "--json"])
        .assert()
        .success();
    let again = json_of(&again.get_output().stdout);
    assert_eq!(again["state"], "complete");
    assert!(
        again["destination_summary"]
            .as_str()
            .unwrap()
            .contains("0 new, 17 already there"),
        "{again}"
    );
    assert_eq!(count_files(&out), files_before, "a rerun wrote files");

    // Plain output of the same: the report table.
    let plain = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&plain.get_output().stdout).to_string();
    assert!(
        text.contains("complete") && text.contains("contacts"),
        "{text}"
    );

    let jobs = env.dtp().args(["jobs", "--json"]).assert().success();
    let jobs = json_of(&jobs.get_output().stdout);
    assert_eq!(jobs.as_array().unwrap().len(), 3);
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == "complete")
    );

    let show = env
        .dtp()
        .args(["jobs", "show", &job[..8], "--json"])
        .assert()
        .success();
    let show = json_of(&show.get_output().stdout);
    assert_eq!(show["job_id"], job.as_str());
    assert_eq!(show["total_items"], 17);

    let verify = env
        .dtp()
        .args(["verify", &job, "--json"])
        .assert()
        .success();
    let verify = json_of(&verify.get_output().stdout);
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(verify["per_type"]["media"]["media_checked"], 3);
    assert_eq!(verify["per_type"]["mail"]["media_checked"], 4);

    // Verification notices a photo that went missing at the destination.
    std::fs::remove_file(out.join("photos/Family/IMG_2031.jpg")).unwrap();
    let bad = env.dtp().args(["verify", &job, "--json"]).assert().code(1);
    let bad = json_of(&bad.get_output().stdout);
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["per_type"]["media"]["media_missing"], 1);
    assert_eq!(bad["per_type"]["contacts"]["ok"], true);
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            n += count_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

/// A source archive with many small messages, so a transfer takes long
/// enough to be interrupted.
fn big_mail_archive(root: &Path, n: usize) {
    let cur = root.join("mail/INBOX/cur");
    std::fs::create_dir_all(&cur).unwrap();
    std::fs::create_dir_all(root.join("mail/INBOX/new")).unwrap();
    std::fs::create_dir_all(root.join("mail/INBOX/tmp")).unwrap();
    for i in 0..n {
        let body = format!(
            "Message-ID: <m{i}@example.org>\r\nFrom: a@example.org\r\nTo: b@example.org\r\nSubject: message {i}\r\n\r\n{}\r\n",
            "lorem ipsum ".repeat(20)
        );
        std::fs::write(cur.join(format!("{i}.M{i}P1.test:2,S")), body).unwrap();
    }
}

#[test]
fn sigint_checkpoints_and_resume_finishes_with_nothing_lost_or_duplicated() {
    let env = Env::new();
    let src = env.path("src");
    let n = 3000;
    big_mail_archive(&src, n);
    let out = env.path("out");
    let mut child = env
        .std()
        .args([
            "transfer",
            "--from",
            &format!("local:{}", src.display()),
            "--to",
            &format!("local:{}", out.display()),
            "--types",
            "mail",
            "--concurrency",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first page to be imported, then press Ctrl-C.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let start = Instant::now();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("dtp ended before any progress:\n{seen}");
        }
        seen.push_str(&line);
        if line.starts_with("mail:") && line.contains("items done") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{seen}");
    }
    let status = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130), "stderr:\n{seen}{rest}");
    assert!(rest.contains("interrupted: progress is saved"), "{rest}");
    let resume_line = rest
        .lines()
        .find(|l| l.contains(" resume "))
        .unwrap_or_else(|| panic!("no resume command in:\n{rest}"))
        .trim()
        .to_string();
    let job = resume_line.rsplit(' ').next().unwrap().to_string();
    let partial = std::fs::read_dir(out.join("mail/INBOX/cur"))
        .unwrap()
        .count();
    assert!(
        partial > 0 && partial < n,
        "interrupted after {partial} of {n}"
    );

    // The printed command resumes the job.
    let mut parts = resume_line.split_whitespace();
    let program = parts.next().unwrap();
    assert!(program.ends_with("dtp"), "{resume_line}");
    let resumed = env
        .dtp()
        .args(parts.collect::<Vec<_>>())
        .arg("--json")
        .assert()
        .success();
    let report = json_of(&resumed.get_output().stdout);
    assert_eq!(report["state"], "complete", "{report}");
    assert_eq!(report["job_id"], job.as_str());

    // Nothing lost, nothing duplicated: each message exactly once.
    let names: Vec<String> = std::fs::read_dir(out.join("mail/INBOX/cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), n);
    let verify = env
        .dtp()
        .args(["verify", &job, "--json"])
        .assert()
        .success();
    assert_eq!(json_of(&verify.get_output().stdout)["ok"], true);
    let no_tmp = std::fs::read_dir(out.join("mail/INBOX/tmp"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".dtp-tmp")
        })
        .count();
    assert_eq!(no_tmp, 0);
}

#[test]
fn bad_input_gives_one_line_errors_and_exit_codes() {
    let env = Env::new();
    let from = format!("local:{}", sample().display());
    let out = env.path("out");
    let to = format!("local:{}", out.display());

    let e = env
        .dtp()
        .args(["transfer", "--from", "gphotos:me", "--to", &to])
        .assert()
        .code(2);
    let line = one_line_error(&e.get_output().stderr);
    assert!(
        line.contains("unknown service `gphotos`") && line.contains("dtp services"),
        "{line}"
    );

    let e = env
        .dtp()
        .args(["transfer", "--from", "examples/data/sample", "--to", &to])
        .assert()
        .code(2);
    let line = one_line_error(&e.get_output().stderr);
    assert!(line.contains("SERVICE:LOCATION"), "{line}");

    let e = env
        .dtp()
        .args(["transfer", "--from", "local:/no/such/archive", "--to", &to])
        .assert()
        .code(2);
    let line = one_line_error(&e.get_output().stderr);
    assert!(line.contains("no archive at /no/such/archive"), "{line}");

    let e = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to, "--types", "faxes"])
        .assert()
        .code(2);
    let line = one_line_error(&e.get_output().stderr);
    assert!(line.contains("unknown data type `faxes`"), "{line}");

    let e = env.dtp().args(["resume", "nope-nope"]).assert().code(2);
    let line = one_line_error(&e.get_output().stderr);
    assert!(line.contains("dtp jobs"), "{line}");

    let e = env.dtp().args(["auth", "login", "nosuch"]).assert().code(2);
    one_line_error(&e.get_output().stderr);

    assert!(!out.exists(), "nothing was written on bad input");
}

#[test]
fn a_full_destination_stops_with_its_error_and_a_resume_command() {
    let env = Env::new();
    let mnt = env.path("small");
    std::fs::create_dir_all(&mnt).unwrap();
    // A 16 KiB tmpfs in a private mount namespace (no root needed).
    let output = StdCommand::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=16k tmpfs "$1" && exec "$2" transfer --from "local:$3" --to "local:$1/out""#,
            "sh",
        ])
        .arg(&mnt)
        .arg(assert_cmd::cargo::cargo_bin("dtp"))
        .arg(sample())
        .env("DTP_DATA_DIR", env.path("data"))
        .env("DTP_CONFIG_DIR", env.path("config"))
        .output()
        .expect("unshare (util-linux) is needed for this test");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "stderr:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the destination is full")
            && last.contains("free some space")
            && last.contains(" resume "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("stopped"), "{report}");
}

#[test]
fn services_help_and_auth_without_secrets_on_the_command_line() {
    let env = Env::new();
    let s = env.dtp().args(["services", "--json"]).assert().success();
    let s = json_of(&s.get_output().stdout);
    let all = s.as_array().unwrap();
    let local = all.iter().find(|v| v["name"] == "local").unwrap();
    for dav in ["caldav", "carddav", "webdav"] {
        let d = all.iter().find(|v| v["name"] == dav).unwrap();
        assert_eq!(d["auth"], "app_password", "{d}");
    }
    assert_eq!(local["name"], "local");
    assert_eq!(local["exports"].as_array().unwrap().len(), 5);
    assert_eq!(local["imports"].as_array().unwrap().len(), 5);

    for sub in [
        vec!["--help"],
        vec!["transfer", "--help"],
        vec!["resume", "--help"],
        vec!["jobs", "--help"],
        vec!["verify", "--help"],
        vec!["services", "--help"],
        vec!["auth", "--help"],
        vec!["auth", "login", "--help"],
        vec!["auth", "list", "--help"],
        vec!["auth", "logout", "--help"],
        vec!["jobs", "show", "--help"],
    ] {
        let h = env.dtp().args(&sub).assert().success();
        let text = String::from_utf8_lossy(&h.get_output().stdout).to_string();
        assert!(text.contains("Examples:"), "{sub:?}:\n{text}");
    }

    let l = env
        .dtp()
        .args(["auth", "login", "local"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&l.get_output().stdout).contains("needs no sign-in"));
    let l = env.dtp().args(["auth", "list"]).assert().success();
    assert!(String::from_utf8_lossy(&l.get_output().stdout).contains("no stored credentials"));
    // There is no way to pass a password as an argument.
    env.dtp()
        .args(["auth", "login", "local", "--password", "x"])
        .assert()
        .code(2);
}

#[test]
fn dry_run_counts_and_writes_nothing() {
    let env = Env::new();
    let out = env.path("out");
    let d = env
        .dtp()
        .args([
            "transfer",
            "--from",
            &format!("local:{}", sample().display()),
            "--to",
            &format!("local:{}", out.display()),
            "--types",
            "contacts,calendar",
            "--dry-run",
            "--json",
        ])
        .assert()
        .success();
    let d = json_of(&d.get_output().stdout);
    assert_eq!(d["per_type"]["contacts"]["items"], 3);
    assert_eq!(d["per_type"]["calendar"]["items"], 3);
    assert!(d["per_type"].get("mail").is_none());
    assert!(!out.exists());
    assert!(
        !env.path("data/jobs.sqlite").exists(),
        "a dry run creates no job"
    );
}

/// The archive opens in standard tools: Python's `mailbox.Maildir` and the
/// `vobject` vCard/iCalendar parser (installed by `scripts/test`; set
/// `DTP_TEST_PYTHON` to an interpreter that has it).
#[test]
fn the_archive_reads_back_with_independent_parsers() {
    let env = Env::new();
    let out = env.path("out");
    env.dtp()
        .args([
            "transfer",
            "--from",
            &format!("local:{}", sample().display()),
            "--to",
            &format!("local:{}", out.display()),
        ])
        .assert()
        .success();
    let python = std::env::var("DTP_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/read_archive.py");
    let o = StdCommand::new(&python)
        .arg(&script)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        o.status.success(),
        "{python} could not read the archive (run ./scripts/test, which installs vobject, or set DTP_TEST_PYTHON):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json_of(&o.stdout);

    let inbox = v["maildirs"]["INBOX"].as_array().unwrap();
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[0]["subject"], "Choir: Brahms scores are in");
    assert_eq!(inbox[0]["flags"], "RS");
    assert_eq!(inbox[1]["flags"], "F");
    assert_eq!(v["maildirs"]["Sent"][0]["flags"], "S");
    assert_eq!(v["maildirs"]["Archive/2024"][0]["flags"], "Sa");
    assert_eq!(
        v["maildirs"]["Archive/2024"][0]["message_id"],
        "<c4@example.org>"
    );

    let cards = v["vcards"]["contacts/Friends.vcf"].as_array().unwrap();
    assert_eq!(cards.len(), 3);
    assert_eq!(cards[0]["fn"], "Ada Lovelace");
    assert_eq!(cards[0]["tel"].as_array().unwrap().len(), 3);
    assert_eq!(cards[2]["fn"], "山田 花子");

    let cal = &v["icalendars"]["calendars/Home.ics"];
    let events = cal["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "a series, two overrides, two more events");
    let overrides: Vec<&Value> = events
        .iter()
        .filter(|e| e["uid"] == "choir-practice-2024@example.org" && !e["recurrence_id"].is_null())
        .collect();
    assert_eq!(overrides.len(), 2);
    assert!(
        events
            .iter()
            .any(|e| e["rrule"] == "FREQ=WEEKLY;COUNT=10;BYDAY=TU")
    );

    let todos = v["icalendars"]["tasks/Moving house.ics"]["todos"]
        .as_array()
        .unwrap();
    assert_eq!(todos.len(), 4);
    assert_eq!(
        todos
            .iter()
            .filter(|t| t["related_to"] == "move-2024@example.org")
            .count(),
        3
    );

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["counts"]["tasks"]["items"], 4);
    let photo = &manifest["media"]["photos/Family/IMG_2031.jpg"];
    let bytes = std::fs::read(out.join("photos/Family/IMG_2031.jpg")).unwrap();
    assert_eq!(photo["size"], bytes.len());
    assert_eq!(
        bytes,
        std::fs::read(sample().join("photos/Family/IMG_2031.jpg")).unwrap(),
        "the photo is byte for byte the original"
    );
}

/// A killed process (SIGKILL, no chance to checkpoint) leaves no file that
/// counts as done: resuming finishes with every photo exactly once, byte for
/// byte.
#[test]
fn a_killed_transfer_resumes_to_exactly_one_intact_copy_of_everything() {
    let env = Env::new();
    let src = env.path("src");
    let album = src.join("photos/Big");
    std::fs::create_dir_all(&album).unwrap();
    let n = 120;
    for i in 0..n {
        // 256 KiB of distinct bytes per photo.
        let mut bytes = vec![0u8; 256 * 1024];
        for (j, b) in bytes.iter_mut().enumerate() {
            *b = (j as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i * 7919)
                .to_le_bytes()[1];
        }
        std::fs::write(album.join(format!("IMG_{i:04}.jpg")), bytes).unwrap();
    }
    let out = env.path("out");
    let mut child = env
        .std()
        .args([
            "transfer",
            "--from",
            &format!("local:{}", src.display()),
            "--to",
            &format!("local:{}", out.display()),
            "--types",
            "photos",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some photos have landed.
    let dest = out.join("photos/Big");
    let start = Instant::now();
    loop {
        let landed = std::fs::read_dir(&dest).map(|d| d.count()).unwrap_or(0);
        if landed >= 20 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let jobs = env.dtp().args(["jobs", "--json"]).assert().success();
    let jobs = json_of(&jobs.get_output().stdout);
    let job = jobs[0]["id"].as_str().unwrap().to_string();
    assert_ne!(jobs[0]["state"], "complete", "killed before the end");

    env.dtp().args(["resume", &job]).assert().success();
    let jpgs: Vec<PathBuf> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    assert_eq!(jpgs.len(), n as usize, "each photo exactly once");
    for p in &jpgs {
        let name = p.file_name().unwrap();
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(album.join(name)).unwrap(),
            "{name:?} is intact"
        );
    }
    let verify = env
        .dtp()
        .args(["verify", &job, "--json"])
        .assert()
        .success();
    let verify = json_of(&verify.get_output().stdout);
    assert_eq!(verify["per_type"]["media"]["destination_items"], n);
    assert_eq!(verify["ok"], true);
}

#[test]
fn videos_only_moves_the_videos_and_verify_agrees() {
    let env = Env::new();
    let src = env.path("src");
    let album = src.join("photos/Holiday");
    std::fs::create_dir_all(&album).unwrap();
    std::fs::write(album.join("beach.jpg"), b"\xff\xd8\xff\xe0 a photo").unwrap();
    std::fs::write(album.join("waves.mp4"), b"\x00\x00\x00\x18ftypmp42 a video").unwrap();
    let out = env.path("out");
    let r = env
        .dtp()
        .args([
            "transfer",
            "--from",
            &format!("local:{}", src.display()),
            "--to",
            &format!("local:{}", out.display()),
            "--types",
            "videos",
            "--json",
        ])
        .assert()
        .success();
    let r = json_of(&r.get_output().stdout);
    assert_eq!(r["per_type"]["media"]["created"], 1);
    assert!(out.join("photos/Holiday/waves.mp4").exists());
    assert!(!out.join("photos/Holiday/beach.jpg").exists());
    let job = r["job_id"].as_str().unwrap();
    let v = env.dtp().args(["verify", job, "--json"]).assert().success();
    let v = json_of(&v.get_output().stdout);
    assert_eq!(v["per_type"]["media"]["source_items"], 1, "{v}");
    assert_eq!(v["ok"], true);
}

/// The error of a run that printed progress lines first: the last line of
/// stderr, the only `error:` line, never a backtrace.
fn the_error_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).to_string();
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got:\n{text}");
    assert_eq!(text.lines().last(), Some(errors[0]), "{text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
    errors[0].to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Saves `user` / `password` for `service` through `dtp auth login`, the
/// password on stdin (not a terminal), never on the command line.
fn login(env: &Env, service: &str, user: &str, password: &str) {
    let l = env
        .dtp()
        .args(["auth", "login", service, "--username", user])
        .write_stdin(format!("{password}\n"))
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&l.get_output().stdout).contains("saved credentials"));
    let raw = std::fs::read_to_string(env.path("config/credentials.json")).unwrap();
    assert!(!raw.contains(password), "password stored in clear");
}

#[test]
fn an_unreachable_dav_host_is_exit_4_with_one_line_advice() {
    let env = Env::new();
    // A port nothing listens on.
    let url = format!("http://127.0.0.1:{}/", free_port());
    let from = format!("caldav:{url}");
    login(&env, &from, "ada", "app-password");
    let out = env.path("out");
    let e = env
        .dtp()
        .env("DTP_MAX_ATTEMPTS", "1")
        .args(["transfer", "--from", &from, "--to"])
        .arg(format!("local:{}", out.display()))
        .arg("--json")
        .timeout(Duration::from_secs(120))
        .assert()
        .code(4);
    let line = the_error_line(&e.get_output().stderr);
    assert!(
        line.contains("could not reach caldav")
            && line.contains("check the address and your connection"),
        "{line}"
    );
    assert!(!line.contains("app-password"), "{line}");
}

/// Radicale (htpasswd `alice:secret`) on a free loopback port, from the venv
/// that `dtp-adapters-dav/tests/servers/setup.sh` creates; killed on
/// drop.
struct Radicale {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Radicale {
    fn start() -> Radicale {
        let servers =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtp-adapters-dav/tests/servers");
        let bin = servers.join(".venv/bin/radicale");
        if !bin.exists() {
            let ok = StdCommand::new("bash")
                .arg(servers.join("setup.sh"))
                .status()
                .expect("cannot run setup.sh");
            assert!(
                ok.success(),
                "dtp-adapters-dav tests/servers/setup.sh failed"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::write(d.join("users"), "alice:secret\n").unwrap();
        std::fs::write(
            d.join("config"),
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = {}\n[logging]\nlevel = warning\n",
                d.join("users").display(),
                d.join("collections").display()
            ),
        )
        .unwrap();
        let child = StdCommand::new(bin)
            .arg("--config")
            .arg(d.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("radicale");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "radicale did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Radicale {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            _dir: dir,
        }
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_wrong_dav_password_is_exit_3_with_one_line_advice() {
    let radicale = Radicale::start();
    let env = Env::new();
    let to = format!("caldav:{}", radicale.url);
    login(&env, &to, "alice", "not-the-password");
    let e = env
        .dtp()
        .args(["transfer", "--from"])
        .arg(format!("local:{}", sample().display()))
        .args(["--to", &to, "--types", "calendar", "--json"])
        .timeout(Duration::from_secs(120))
        .assert()
        .code(3);
    let line = the_error_line(&e.get_output().stderr);
    assert!(
        line.contains("caldav refused the credentials") && line.contains("dtp auth login caldav"),
        "{line}"
    );
    assert!(!line.contains("not-the-password"), "{line}");
}

#[test]
fn the_sample_moves_into_radicale_over_caldav_and_carddav() {
    let radicale = Radicale::start();
    let env = Env::new();
    let from = format!("local:{}", sample().display());
    for (svc, types) in [("caldav", "calendar,tasks"), ("carddav", "contacts")] {
        let to = format!("{svc}:{}", radicale.url);
        // Credentials for the whole service (not only this location).
        login(&env, svc, "alice", "secret");
        let ok = env
            .dtp()
            .args([
                "transfer", "--from", &from, "--to", &to, "--types", types, "--json",
            ])
            .timeout(Duration::from_secs(300))
            .assert()
            .success();
        let report = json_of(&ok.get_output().stdout);
        assert_eq!(report["state"], "complete", "{report}");
        assert!(report["total_items"].as_u64().unwrap() > 0, "{report}");
    }
}

/// `google-takeout:` reads an extracted Takeout folder (album folders, JSON
/// sidecars) into a local archive; it cannot be a destination.
#[test]
fn google_takeout_folder_into_a_local_archive() {
    let env = Env::new();
    let gp = env.path("Takeout/Google Photos");
    let sidecar = |title: &str, desc: &str| {
        serde_json::json!({
            "title": title, "description": desc,
            "creationTime": {"timestamp": "1700000100", "formatted": "x"},
            "photoTakenTime": {"timestamp": "1700000000", "formatted": "x"},
            "geoData": {"latitude": 48.85, "longitude": 2.29, "altitude": 0.0}
        })
        .to_string()
    };
    for folder in ["Photos from 2023", "Paris"] {
        std::fs::create_dir_all(gp.join(folder)).unwrap();
        std::fs::write(
            gp.join(folder).join("IMG_1.jpg"),
            b"\xff\xd8\xff\xe0 jpeg bytes",
        )
        .unwrap();
        std::fs::write(
            gp.join(folder).join("IMG_1.jpg.supplemental-metadata.json"),
            sidecar("IMG_1.jpg", "Eiffel tower"),
        )
        .unwrap();
    }
    std::fs::write(
        gp.join("Paris/metadata.json"),
        r#"{"title":"Paris","description":"","access":"protected"}"#,
    )
    .unwrap();
    std::fs::write(gp.join("Photos from 2023/VID_2.mp4"), b"not really a video").unwrap();
    std::fs::write(
        gp.join("Photos from 2023/VID_2.mp4.json"),
        sidecar("VID_2.mp4", ""),
    )
    .unwrap();

    let from = format!("google-takeout:{}", env.path("Takeout").display());
    let to = format!("local:{}", env.path("out").display());
    let run = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to, "--json"])
        .assert()
        .success();
    let report = json_of(&run.get_output().stdout);
    assert_eq!(report["state"], "complete", "{report}");
    assert_eq!(report["per_type"]["media"]["created"], 2, "{report}");
    assert_eq!(report["per_type"]["media"]["containers"], 1, "{report}");

    let bad = env
        .dtp()
        .args(["transfer", "--from", &to, "--to", &from])
        .assert()
        .failure();
    let line = one_line_error(&bad.get_output().stderr);
    assert!(line.contains("source only"), "{line}");
}

/// `dtp verify` compares content: one property changed in one record of
/// 1,000 at the destination is found, named by record and field, and
/// nothing else is reported.
#[test]
fn verify_finds_one_changed_property_among_a_thousand_records() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(src.join("contacts")).unwrap();
    let mut vcf = String::new();
    for n in 0..1000 {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:00000000-0000-4000-8000-{n:012}\r\n\
             FN:Person {n}\r\nN:{n};Person;;;\r\nEMAIL;TYPE=work:person{n}@example.org\r\n\
             TEL;TYPE=cell:+1 555 {n:04}\r\nNOTE:Card number {n}\r\nEND:VCARD\r\n"
        ));
    }
    std::fs::write(src.join("contacts/People.vcf"), &vcf).unwrap();
    let out = env.path("out");
    let from = format!("local:{}", src.display());
    let to = format!("local:{}", out.display());
    let run = env
        .dtp()
        .args(["transfer", "--from", &from, "--to", &to, "--json"])
        .assert()
        .success();
    let job = json_of(&run.get_output().stdout)["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let clean = env
        .dtp()
        .args(["verify", &job, "--json"])
        .assert()
        .success();
    let clean = json_of(&clean.get_output().stdout);
    assert_eq!(
        clean["per_type"]["contacts"]["source_items"], 1000,
        "{clean}"
    );
    assert_eq!(clean["per_type"]["contacts"]["destination_items"], 1000);
    assert!(
        clean["per_type"]["contacts"]["compared_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "emails"),
        "{clean}"
    );

    // Change one property of one card at the destination, nothing else.
    let written: Vec<PathBuf> = std::fs::read_dir(out.join("contacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "vcf"))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    let edited = text.replace("person537@example.org", "somebody@example.net");
    assert_ne!(edited, text, "the card was written as expected");
    std::fs::write(&written[0], edited).unwrap();

    let bad = env.dtp().args(["verify", &job, "--json"]).assert().code(1);
    let bad = json_of(&bad.get_output().stdout);
    let contacts = &bad["per_type"]["contacts"];
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(
        contacts["missing"].as_array().unwrap().len(),
        0,
        "{contacts}"
    );
    assert_eq!(contacts["extra"].as_array().unwrap().len(), 0, "{contacts}");
    let different = contacts["different"].as_array().unwrap();
    assert_eq!(different.len(), 1, "{contacts}");
    assert_eq!(
        different[0]["key"],
        "uid:urn:uuid:00000000-0000-4000-8000-000000000537"
    );
    assert_eq!(different[0]["fields"], serde_json::json!(["emails"]));

    // The table names it too.
    let table = env.dtp().args(["verify", &job]).assert().code(1);
    let table = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(
        table.contains("different contacts `Person 537`") && table.contains("emails"),
        "{table}"
    );
}
