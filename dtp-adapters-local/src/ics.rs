//! Calendars (`calendars/<calendar>.ics`) and task lists
//! (`tasks/<list>.ics`): one `VCALENDAR` per file.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use dtp_core::{Error, ImportContext, ImportStatus, Imported, Result};
use dtp_models::calendar::{Calendar, CalendarData, CalendarObject, Event};
use dtp_models::ical::{parse_icalendar, write_event, write_icalendar, write_task};
use dtp_models::tasks::{Task, TaskList, TasksData};

use crate::fsutil::{self, io_error, safe_name, sha256_hex};
use crate::{Index, LocalArchive};

const CALENDARS: &str = "calendars";
const TASKS: &str = "tasks";

/// What a `.ics` holds, loaded once per import run.
pub(crate) struct IcsState {
    obj: CalendarObject,
    uids: HashMap<String, String>,
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every object of a file merged into one (the first one's calendar).
fn read_object(bytes: &[u8], rel: &str, fallback_name: &str) -> Result<CalendarObject> {
    let blank = || CalendarObject::new(Calendar::new(rel, fallback_name));
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(blank());
    }
    let parsed = parse_icalendar(bytes, rel).map_err(|e| Error::from(e).with_item(rel))?;
    for w in &parsed.warnings {
        tracing::warn!(file = rel, warning = %w, "iCalendar");
    }
    let mut objects = parsed.value.into_iter();
    let Some(mut obj) = objects.next() else {
        return Ok(blank());
    };
    for more in objects {
        obj.events.extend(more.events);
        obj.tasks.extend(more.tasks);
        obj.components.extend(more.components);
    }
    if obj.calendar.name.is_empty() {
        obj.calendar.name = fallback_name.to_string();
    }
    Ok(obj)
}

fn ics_files(archive: &LocalArchive, root: &str) -> Result<Vec<(std::path::PathBuf, String)>> {
    Ok(fsutil::list_dir(&archive.root().join(root))?
        .into_iter()
        .filter(|f| f.is_file() && f.to_string_lossy().to_ascii_lowercase().ends_with(".ics"))
        .map(|f| {
            let rel = archive.rel(&f);
            (f, rel)
        })
        .collect())
}

pub(crate) fn scan_calendars(archive: &LocalArchive) -> Result<Index<CalendarData>> {
    let mut containers = Vec::new();
    let mut items = Vec::new();
    for (file, rel) in ics_files(archive, CALENDARS)? {
        let bytes = std::fs::read(&file).map_err(|e| io_error(e, &rel))?;
        let obj = read_object(&bytes, &rel, &stem(&file))?;
        // The stored record (what the source said) wins; time zones the
        // file defines fill in when the record has none.
        let mut cal = match archive.container_record::<Calendar>(&rel) {
            Some(mut record) => {
                if record.timezones.is_empty() {
                    record.timezones = obj.calendar.timezones;
                }
                record
            }
            None => obj.calendar,
        };
        cal.id = rel.clone();
        containers.push(cal);
        for mut ev in obj.events {
            ev.id = format!("{rel}#{}", ev.id);
            ev.calendar_id = rel.clone();
            for o in &mut ev.overrides {
                o.id = ev.id.clone();
                o.calendar_id = rel.clone();
            }
            items.push(ev);
        }
    }
    Ok(Index { containers, items })
}

pub(crate) fn scan_task_lists(archive: &LocalArchive) -> Result<Index<TasksData>> {
    let mut containers = Vec::new();
    let mut items = Vec::new();
    for (file, rel) in ics_files(archive, TASKS)? {
        let bytes = std::fs::read(&file).map_err(|e| io_error(e, &rel))?;
        let obj = read_object(&bytes, &rel, &stem(&file))?;
        let mut list = archive
            .container_record::<TaskList>(&rel)
            .unwrap_or_else(|| {
                let mut l = TaskList::new(rel.clone(), obj.calendar.name.clone());
                l.description = obj.calendar.description.clone();
                l.color = obj.calendar.color.clone();
                l
            });
        list.id = rel.clone();
        containers.push(list);
        for mut t in obj.tasks {
            t.id = format!("{rel}#{}", t.id);
            t.list_id = rel.clone();
            t.parent_id = t.parent_id.map(|p| format!("{rel}#{p}"));
            items.push(t);
        }
    }
    Ok(Index { containers, items })
}

/// A UID for a record that has none (iCalendar requires one), derived from
/// its source id so that every run derives the same.
fn derived_uid(source_id: &str) -> String {
    format!("dtp-{}@dtp-rs", &sha256_hex(source_id.as_bytes())[..24])
}

fn uid_of_dest_id(id: &str) -> &str {
    id.split_once(".ics#").map(|(_, u)| u).unwrap_or(id)
}

impl LocalArchive {
    fn create_ics(&self, rel: &str, calendar: &Calendar) -> Result<()> {
        let text = write_icalendar(&CalendarObject::new(calendar.clone()));
        fsutil::write_new(&self.path(rel)?, text.as_bytes())?;
        Ok(())
    }

    pub(crate) fn import_calendar(&self, cal: &Calendar) -> Result<String> {
        let rel = format!("{CALENDARS}/{}.ics", safe_name(&cal.name));
        let mut record = cal.clone();
        record.id = rel.clone();
        self.create_ics(&rel, &record)?;
        self.remember_container(&rel, &record)?;
        Ok(rel)
    }

    pub(crate) fn import_task_list(&self, list: &TaskList) -> Result<String> {
        let rel = format!("{TASKS}/{}.ics", safe_name(&list.title));
        let mut cal = Calendar::new(rel.clone(), list.title.clone());
        cal.description = list.description.clone();
        cal.color = list.color.clone();
        self.create_ics(&rel, &cal)?;
        let mut record = list.clone();
        record.id = rel.clone();
        self.remember_container(&rel, &record)?;
        Ok(rel)
    }

    /// Adds one record (by UID) to the `.ics` at `rel`, unless it is there.
    async fn add_to_ics(
        &self,
        rel: &str,
        uid: &str,
        canonical: &(dyn Fn(&CalendarObject) -> Option<String> + Sync),
        add: &(dyn Fn(&mut CalendarObject) + Sync),
        existing: &(dyn Fn(&CalendarObject) -> Vec<(String, String)> + Sync),
    ) -> Result<ImportStatus> {
        let path = self.path(rel)?;
        let state = self.state::<IcsState>(rel);
        let mut guard = state.lock().await;
        if guard.is_none() {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_error(e, rel)),
            };
            let obj = read_object(&bytes, rel, &stem(&path))?;
            let uids = existing(&obj).into_iter().collect();
            *guard = Some(IcsState { obj, uids });
        }
        let Some(st) = guard.as_mut() else {
            return Err(Error::internal("calendar state vanished"));
        };
        // The record as the file will read it back.
        let mut probe = CalendarObject::new(Calendar::new(rel, ""));
        add(&mut probe);
        let text = write_icalendar(&probe);
        let back = read_object(text.as_bytes(), rel, "")?;
        let h = canonical(&back)
            .map(|t| sha256_hex(t.as_bytes()))
            .ok_or_else(|| Error::invalid_data("the record writes no iCalendar component"))?;
        match st.uids.get(uid) {
            Some(existing) if *existing == h => return Ok(self.note_present()),
            Some(_) => {
                return Err(Error::invalid_data(format!(
                    "{rel} already holds a different record with UID `{uid}`; it was not overwritten"
                )));
            }
            None => {}
        }
        let mut obj = st.obj.clone();
        add(&mut obj);
        fsutil::atomic_write(&path, write_icalendar(&obj).as_bytes())?;
        st.obj = obj;
        st.uids.insert(uid.to_string(), h);
        Ok(self.note_written(0))
    }

    pub(crate) async fn import_event(&self, ctx: &ImportContext, ev: &Event) -> Result<Imported> {
        let rel = ctx.require_container(&ev.calendar_id)?;
        let mut ev = ev.clone();
        if ev.uid.is_empty() {
            ev.uid = derived_uid(&ev.id);
            for o in &mut ev.overrides {
                o.uid = ev.uid.clone();
            }
        }
        let blank = Calendar::new("", "");
        let uid = ev.uid.clone();
        let canon = |obj: &CalendarObject| obj.events.first().map(|e| write_event(&blank, e));
        let existing = |obj: &CalendarObject| {
            obj.events
                .iter()
                .map(|e| (e.uid.clone(), sha256_hex(write_event(&blank, e).as_bytes())))
                .collect()
        };
        let add = |obj: &mut CalendarObject| obj.events.push(ev.clone());
        let status = self.add_to_ics(&rel, &uid, &canon, &add, &existing).await?;
        Ok(Imported::new(format!("{rel}#{uid}"), status))
    }

    pub(crate) async fn import_task(&self, ctx: &ImportContext, t: &Task) -> Result<Imported> {
        let rel = ctx.require_container(&t.list_id)?;
        let mut t = t.clone();
        let uid = t.uid.clone().unwrap_or_else(|| derived_uid(&t.id));
        t.uid = Some(uid.clone());
        if let Some(parent) = &t.parent_id {
            t.parent_id = Some(self.parent_uid(ctx, parent).await?);
        }
        let canon = |obj: &CalendarObject| obj.tasks.first().map(|x| write_task(None, x));
        let existing = |obj: &CalendarObject| {
            obj.tasks
                .iter()
                .filter_map(|x| {
                    let u = x.uid.clone()?;
                    Some((u, sha256_hex(write_task(None, x).as_bytes())))
                })
                .collect()
        };
        let add = |obj: &mut CalendarObject| obj.tasks.push(t.clone());
        let status = self.add_to_ics(&rel, &uid, &canon, &add, &existing).await?;
        Ok(Imported::new(format!("{rel}#{uid}"), status))
    }

    /// The UID of a parent task in this archive. A parent on the same page
    /// may still be in flight: wait a little for it.
    async fn parent_uid(&self, ctx: &ImportContext, parent: &str) -> Result<String> {
        for _ in 0..100 {
            if let Some(id) = ctx.item_id(parent).await? {
                return Ok(uid_of_dest_id(&id).to_string());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(derived_uid(parent))
    }
}
