//! Control requests on a session: subscriptions, reconfiguration, constraints, rebind,
//! destroy.

use std::sync::Arc;

use tlcp_proto::notification::Notification;
use tlcp_proto::request::Subscribe;
use tlcp_proto::{BandwidthLimit, BufferSize, MaxFrequency, Mode, RealMaxFrequency, Snapshot};

use super::dispatch::{MIN_MAX_FREQUENCY, SubItem, Subscription, update_interval};
use super::{Session, release_items};
use crate::adapter::Refusal;
use crate::hub::SnapshotRequest;

/// Refusal of a control request, answered with `REQERR`.
pub(crate) type ControlResult = Result<(), Refusal>;

impl Session {
    /// `LS_op=add`: resolves names, starts the items, answers `SUBOK`/`SUBCMD` + `CONF`,
    /// then the snapshot and the live flow.
    pub(crate) fn subscribe(
        &self,
        req: &Subscribe,
        ack: Option<&Notification<'_>>,
    ) -> ControlResult {
        let user = self.client.user.as_deref();
        let meta = &self.set.metadata;
        if let Some(MaxFrequency::PerSecond(f)) = req.requested_max_frequency {
            check_frequency(f)?;
        }
        {
            let st = self.lock();
            if st.subs.contains_key(&req.sub_id) {
                return Err(in_use(req.sub_id));
            }
            self.check_room(&st, 0)?;
        }
        let data_name = req.data_adapter.as_deref().unwrap_or("DEFAULT");
        let data = self
            .set
            .data
            .get(data_name)
            .cloned()
            .ok_or_else(|| Refusal::new(17, format!("Bad Data Adapter name: {data_name}")))?;
        let items = meta.items(user, &req.group)?;
        let max_items = self.config.max_items_per_subscription;
        if items.len() > max_items {
            return Err(Refusal::new(
                68,
                format!(
                    "too many items in one subscription: {} (limit {max_items})",
                    items.len()
                ),
            ));
        }
        self.check_room(&self.lock(), items.len())?;
        let fields = meta.fields(user, &req.group, &req.schema)?;
        let mode = req.mode;
        let mut limit_freq: Option<f64> = None;
        let mut limit_buffer: Option<u32> = None;
        // Per item: how many recent events its DISTINCT snapshot holds at most.
        let mut distinct_lens: Vec<usize> = Vec::with_capacity(items.len());
        let max_distinct = self.config.max_distinct_snapshot_length;
        for item in &items {
            if let Some(selector) = &req.selector {
                meta.check_selector(user, item, selector)?;
            }
            if !meta.allows_mode(user, item, mode) {
                return Err(Refusal::new(
                    24,
                    format!("Subscription mode {mode} not allowed for item {item}"),
                ));
            }
            let limits = meta.item_limits(user, item);
            distinct_lens.push((limits.distinct_snapshot_length as usize).min(max_distinct));
            if req.requested_max_frequency == Some(MaxFrequency::Unfiltered) && mode != Mode::Raw {
                if limits.max_frequency.is_some() {
                    return Err(Refusal::new(
                        26,
                        format!(
                            "Unfiltered dispatching not allowed for item {item}: it has a frequency limit"
                        ),
                    ));
                }
                if !limits.allow_unfiltered {
                    return Err(Refusal::new(
                        27,
                        format!("Unfiltered dispatching not supported for item {item}"),
                    ));
                }
            }
            if let Some(f) = limits.max_frequency.filter(|f| !f.is_nan()) {
                limit_freq = Some(limit_freq.map_or(f, |g| g.min(f)));
            }
            if let Some(b) = limits.max_buffer_size {
                limit_buffer = Some(limit_buffer.map_or(b, |c| c.min(b)));
            }
        }
        let key_cmd = if mode == Mode::Command {
            let k = fields.iter().position(|f| f == "key").ok_or_else(|| {
                Refusal::new(15, "COMMAND mode needs a \"key\" field in the schema")
            })?;
            let c = fields.iter().position(|f| f == "command").ok_or_else(|| {
                Refusal::new(16, "COMMAND mode needs a \"command\" field in the schema")
            })?;
            Some((k, c))
        } else {
            None
        };
        let snapshot = match (mode, req.snapshot) {
            (Mode::Raw, _) | (_, None) | (_, Some(Snapshot::Enabled(false))) => {
                SnapshotRequest::None
            }
            (_, Some(Snapshot::Enabled(true))) => SnapshotRequest::Full,
            (Mode::Distinct, Some(Snapshot::Length(n))) => SnapshotRequest::Length(n),
            (_, Some(Snapshot::Length(_))) => {
                return Err(Refusal::new(
                    65,
                    "a snapshot length is admitted only in DISTINCT mode",
                ));
            }
        };
        let unfiltered =
            mode != Mode::Raw && req.requested_max_frequency == Some(MaxFrequency::Unfiltered);
        let requested_freq = match req.requested_max_frequency {
            Some(MaxFrequency::PerSecond(f)) if mode != Mode::Raw => Some(f),
            _ => None,
        };
        let freq = match (requested_freq, limit_freq) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .filter(|f| *f > 0.0 && f.is_finite());
        let hard = self.config.max_pending_events;
        let capacity = match (mode, req.requested_buffer_size, unfiltered) {
            (_, _, true) | (Mode::Raw, _, _) | (Mode::Command, _, _) => hard,
            (_, Some(BufferSize::Events(n)), _) => (n.max(1) as usize).min(hard),
            (Mode::Merge, _, _) => 1,
            (_, _, _) => hard,
        };
        let capacity = limit_buffer.map_or(capacity, |b| capacity.min(b.max(1) as usize));

        let mut sub_items = Vec::with_capacity(items.len());
        for name in &items {
            match data.acquire(name) {
                Ok(hub) => match hub.resolve_fields(&fields) {
                    Ok(idx) => sub_items.push(SubItem::new(hub, idx, self.allows_diff())),
                    Err(refusal) => {
                        data.release(&hub, None);
                        for it in &sub_items {
                            data.release(&it.hub, None);
                        }
                        return Err(refusal);
                    }
                },
                Err(refusal) => {
                    for it in &sub_items {
                        data.release(&it.hub, None);
                    }
                    return Err(refusal);
                }
            }
        }
        let command_idx: Vec<Option<(usize, usize)>> = sub_items
            .iter()
            .map(|it| key_cmd.map(|(k, c)| (it.field_idx[k], it.field_idx[c])))
            .collect();
        let hubs: Vec<_> = sub_items.iter().map(|it| Arc::clone(&it.hub)).collect();
        let lanes: Vec<_> = sub_items.iter().map(|it| Arc::clone(&it.lane)).collect();
        let field_idx: Vec<Vec<usize>> = sub_items.iter().map(|it| it.field_idx.clone()).collect();
        {
            let mut st = self.lock();
            // Checked again now that the items are started: another `add` of the same id,
            // on another control connection, may have taken it meanwhile (replacing that
            // subscription would leave its listeners attached for ever).
            let refusal = if st.closed.is_some() {
                Some(Refusal::new(20, "session closed"))
            } else if st.subs.contains_key(&req.sub_id) {
                Some(in_use(req.sub_id))
            } else {
                // Checked again: other adds may have taken the room meanwhile.
                self.check_room(&st, items.len()).err()
            };
            if let Some(refusal) = refusal {
                drop(st);
                for it in &sub_items {
                    data.release(&it.hub, None);
                }
                return Err(refusal);
            }
            if let Some(a) = ack {
                st.push(a);
            }
            let (n_items, n_fields) = (items.len() as u32, fields.len() as u32);
            let subok = match key_cmd {
                Some((k, c)) => Notification::SubCmd {
                    sub_id: req.sub_id,
                    num_items: n_items,
                    num_fields: n_fields,
                    key_field: k as u32 + 1,
                    command_field: c as u32 + 1,
                },
                None => Notification::SubOk {
                    sub_id: req.sub_id,
                    num_items: n_items,
                    num_fields: n_fields,
                },
            };
            let conf = Notification::Conf {
                sub_id: req.sub_id,
                max_frequency: freq
                    .map_or(RealMaxFrequency::Unlimited, RealMaxFrequency::PerSecond),
                filtered: !unfiltered,
            };
            st.item_count += sub_items.len();
            st.subs.insert(
                req.sub_id,
                Subscription {
                    mode,
                    unfiltered,
                    min_interval: freq.map(update_interval),
                    max_frequency: freq,
                    limit_frequency: limit_freq,
                    capacity,
                    key_cmd,
                    items: sub_items,
                    data: data.clone(),
                    snapshot_requested: snapshot != SnapshotRequest::None,
                    announce: Some(vec![subok, conf]),
                },
            );
            st.wake();
        }
        for (i, hub) in hubs.iter().enumerate() {
            let filter = req.selector.as_ref().map(|selector| {
                Arc::new(super::SelectorFilter {
                    metadata: Arc::clone(&self.set.metadata),
                    user: self.client.user.clone(),
                    item: items[i].clone(),
                    selector: selector.clone(),
                    names: fields.clone(),
                    idx: field_idx[i].clone(),
                })
            });
            let listener = self.listener((req.sub_id, i), Arc::clone(&lanes[i]), filter);
            // DISTINCT: the item keeps the history its metadata asks for, and a snapshot
            // is at most that long, whatever the client asked.
            let snapshot = match (mode, snapshot) {
                (Mode::Distinct, SnapshotRequest::None) => SnapshotRequest::None,
                (Mode::Distinct, s) => {
                    let len = u32::try_from(distinct_lens[i]).unwrap_or(u32::MAX);
                    match s {
                        SnapshotRequest::Length(n) => SnapshotRequest::Length(n.min(len)),
                        _ => SnapshotRequest::Length(len),
                    }
                }
                (_, s) => s,
            };
            if mode == Mode::Distinct {
                hub.retain_history(distinct_lens[i]);
            }
            let token = hub.add_listener(listener, mode, snapshot, command_idx[i]);
            let mut st = self.lock();
            // The subscription may have been deleted meanwhile, and its id even taken by
            // another one: the token goes to this very item (known by its lane), or the
            // listener goes away.
            let item = st
                .subs
                .get_mut(&req.sub_id)
                .and_then(|sub| sub.items.get_mut(i))
                .filter(|item| Arc::ptr_eq(&item.lane, &lanes[i]));
            match item {
                Some(item) => item.token = Some(token),
                None => {
                    drop(st);
                    data.release(hub, Some(token));
                }
            }
        }
        // Every item has its listener now: the subscription is in place (if it is still
        // this one: another may have taken its id since).
        let mut st = self.lock();
        let same =
            st.subs
                .get(&req.sub_id)
                .is_some_and(|sub| match (sub.items.first(), lanes.first()) {
                    (Some(item), Some(lane)) => Arc::ptr_eq(&item.lane, lane),
                    (first, mine) => first.is_none() && mine.is_none(),
                });
        if same {
            st.announce(req.sub_id);
        }
        Ok(())
    }

    /// `LS_op=delete`: stops the subscription and answers `UNSUB`.
    pub(crate) fn unsubscribe(&self, sub_id: u32, ack: Option<&Notification<'_>>) -> ControlResult {
        let sub = {
            let mut st = self.lock();
            // Deleted while being set up: `SUBOK` still goes before `UNSUB`.
            st.announce(sub_id);
            // What the items' producers staged goes before `UNSUB`.
            st.close_lanes(sub_id);
            let sub = st.subs.remove(&sub_id).ok_or_else(not_found)?;
            st.item_count = st.item_count.saturating_sub(sub.items.len());
            if let Some(a) = ack {
                st.push(a);
            }
            st.push(&Notification::Unsub { sub_id });
            st.wake();
            sub
        };
        release_items(sub);
        Ok(())
    }

    /// `LS_op=reconf`: changes the maximum frequency and answers `CONF`.
    pub(crate) fn reconfigure(
        &self,
        sub_id: u32,
        freq: Option<MaxFrequency>,
        ack: Option<&Notification<'_>>,
    ) -> ControlResult {
        let mut st = self.lock();
        st.announce(sub_id);
        let sub = st.subs.get_mut(&sub_id).ok_or_else(not_found)?;
        if sub.unfiltered {
            return Err(Refusal::new(
                13,
                "frequency reconfiguration not allowed: the subscription is unfiltered",
            ));
        }
        if let Some(MaxFrequency::PerSecond(f)) = freq {
            check_frequency(f)?;
        }
        let requested = match freq {
            Some(MaxFrequency::Unfiltered) => {
                return Err(Refusal::new(65, "a subscription cannot become unfiltered"));
            }
            Some(MaxFrequency::PerSecond(f)) if f > 0.0 && sub.mode != Mode::Raw => Some(f),
            Some(_) => None,
            None => sub.max_frequency,
        };
        // The frequency in force is the one asked for, within the item's limit; `CONF`
        // reports it as such (not as the inverse of the interval, which rounds: 3 would
        // come back as 3.000000003).
        let effective = match (requested, sub.limit_frequency) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .filter(|f| *f > 0.0 && f.is_finite() && sub.mode != Mode::Raw);
        sub.max_frequency = effective;
        sub.min_interval = effective.map(update_interval);
        if sub.min_interval.is_none() {
            // No limit any more: nothing waits for the spacing of the old one.
            for item in &mut sub.items {
                item.next_at = None;
            }
        }
        // The next events are the session's to space out (it opens the lanes again when
        // there is nothing to decide).
        st.close_lanes(sub_id);
        let max_frequency =
            effective.map_or(RealMaxFrequency::Unlimited, RealMaxFrequency::PerSecond);
        if let Some(a) = ack {
            st.push(a);
        }
        st.push(&Notification::Conf {
            sub_id,
            max_frequency,
            filtered: true,
        });
        st.wake();
        Ok(())
    }

    /// `LS_op=constrain`: changes the session's bandwidth and answers `CONS`.
    pub(crate) fn constrain(
        &self,
        bandwidth: Option<tlcp_proto::Bandwidth>,
        ack: Option<&Notification<'_>>,
    ) -> ControlResult {
        let mut st = self.lock();
        if let Some(a) = ack {
            st.push(a);
        }
        let cap = self.config.max_bandwidth_kbps;
        let limit = match (bandwidth, cap) {
            (None, _) => st.bandwidth,
            (Some(tlcp_proto::Bandwidth::Unlimited), None) => BandwidthLimit::Unlimited,
            (Some(tlcp_proto::Bandwidth::Unlimited), Some(c)) => BandwidthLimit::Kbps(c),
            (Some(tlcp_proto::Bandwidth::Kbps(k)), c) => {
                BandwidthLimit::Kbps(c.map_or(k, |c| k.min(c)))
            }
        };
        st.bandwidth = limit;
        st.push(&Notification::Cons { bandwidth: limit });
        st.wake();
        Ok(())
    }
}

impl Session {
    /// Refuses a subscription of `items` more items when the session has no room for it
    /// (`REQERR` 68).
    ///
    /// Appendix B has no code for a server's own limits. 68 ("an unexpected error occurred
    /// on the Server while managing the request") says the server could not serve the
    /// request, not that the client's arguments are wrong (65) or that subscriptions are
    /// forbidden by license terms for the whole session (30); the message says which
    /// limit was reached.
    fn check_room(&self, st: &super::State, items: usize) -> ControlResult {
        let max_subs = self.config.max_subscriptions;
        if st.subs.len() >= max_subs {
            return Err(Refusal::new(
                68,
                format!("too many subscriptions in this session (limit {max_subs})"),
            ));
        }
        let max_items = self.config.max_items_per_session;
        if st.item_count.saturating_add(items) > max_items {
            return Err(Refusal::new(
                68,
                format!("too many subscribed items in this session (limit {max_items})"),
            ));
        }
        Ok(())
    }
}

/// Refuses a maximum frequency no client means: below [`MIN_MAX_FREQUENCY`] (`REQERR`
/// 65, invalid value). (The parser refuses 0, and a number too large for an `f64`.)
fn check_frequency(f: f64) -> ControlResult {
    if f < MIN_MAX_FREQUENCY {
        return Err(Refusal::new(
            65,
            format!(
                "LS_requested_max_frequency={f} is out of range (at least {MIN_MAX_FREQUENCY} \
                 updates/s, or unlimited)"
            ),
        ));
    }
    Ok(())
}

fn in_use(sub_id: u32) -> Refusal {
    Refusal::new(65, format!("subscription id {sub_id} already in use"))
}

fn not_found() -> Refusal {
    Refusal::new(19, "Specified subscription not found")
}

impl Session {
    /// `LS_op=force_rebind`: the stream connection sends `LOOP` and the session waits for
    /// a rebind.
    pub(crate) fn force_rebind(
        &self,
        polling_millis: Option<u64>,
        ack: Option<&Notification<'_>>,
    ) -> ControlResult {
        let mut st = self.lock();
        if let Some(a) = ack {
            st.push(a);
        }
        st.force_loop = Some(polling_millis.unwrap_or(0));
        st.wake();
        Ok(())
    }

    /// `LS_op=destroy`: closes the session with `END` (code 31 unless the client gives
    /// one; positive client codes collapse to 0, as the specification says).
    pub(crate) fn destroy(
        &self,
        cause_code: Option<i32>,
        cause_message: Option<&str>,
        ack: Option<&Notification<'_>>,
    ) {
        if let Some(a) = ack {
            self.notify(a);
        }
        match cause_code {
            Some(c) => self.close(c.min(0), cause_message.unwrap_or("null")),
            None => self.close(31, "Destroy invoked by client"),
        }
    }
}

impl Session {
    /// The bandwidth requested at session creation (`LS_requested_max_bandwidth`).
    pub(crate) fn constrain_initial(&self, bandwidth: tlcp_proto::Bandwidth) {
        let cap = self.config.max_bandwidth_kbps;
        let limit = match (bandwidth, cap) {
            (tlcp_proto::Bandwidth::Unlimited, None) => BandwidthLimit::Unlimited,
            (tlcp_proto::Bandwidth::Unlimited, Some(c)) => BandwidthLimit::Kbps(c),
            (tlcp_proto::Bandwidth::Kbps(k), c) => BandwidthLimit::Kbps(c.map_or(k, |c| k.min(c))),
        };
        self.lock().bandwidth = limit;
    }
}
