//! The server: adapter sets at run time, the session registry, session creation.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tlcp_proto::SessionId;
use tlcp_proto::request::{ControlOp, CreateSession};
use tokio::time::Instant;

use crate::adapter::{Adapters, ClientInfo, MetadataAdapter, Refusal};
use crate::config::ServerConfig;
use crate::hub::DataAdapterHub;
use crate::session::{Closed, Session};
use crate::tasks::{Shutdown, TaskSet};

/// An adapter set with its data adapters' item hubs, shared by all sessions.
pub(crate) struct AdapterSetRuntime {
    pub(crate) metadata: Arc<dyn MetadataAdapter>,
    pub(crate) data: HashMap<String, Arc<DataAdapterHub>>,
}

/// Server-wide state.
pub(crate) struct Server {
    pub(crate) config: Arc<ServerConfig>,
    sets: HashMap<String, Arc<AdapterSetRuntime>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    ids: RandomState,
    counter: AtomicU64,
    /// Connection tasks (HTTP connections, WebSockets, stream connections).
    pub(crate) tasks: Arc<TaskSet>,
    /// Signalled when the server begins to shut down.
    pub(crate) shutdown: Shutdown,
    /// How long written lines waited ([`crate::ServerHandle::write_delays`]).
    pub(crate) delays: Arc<crate::delays::DelayHistogram>,
}

impl Server {
    pub(crate) fn new(config: ServerConfig, adapters: Adapters) -> Self {
        let history = config.max_distinct_snapshot_length;
        let mut sets = HashMap::new();
        for (name, set) in adapters.sets {
            let data = set
                .data
                .iter()
                .map(|(n, a)| {
                    let hub = DataAdapterHub::new(a.clone(), history)
                        .with_max_fields(config.max_fields_per_item);
                    (n.clone(), Arc::new(hub))
                })
                .collect();
            sets.insert(
                name,
                Arc::new(AdapterSetRuntime {
                    metadata: set.metadata.clone(),
                    data,
                }),
            );
        }
        Self {
            config: Arc::new(config),
            sets,
            sessions: Mutex::new(HashMap::new()),
            ids: RandomState::new(),
            counter: AtomicU64::new(1),
            tasks: Arc::default(),
            shutdown: Shutdown::default(),
            delays: Arc::default(),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh, unguessable session id (128 bits from the process's random hash keys).
    fn new_id(&self) -> SessionId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let a = self.ids.hash_one((n, 0u8));
        let b = self.ids.hash_one((n, 1u8));
        SessionId::new(format!("S{a:016x}{b:016x}T{n}"))
    }

    /// Creates a session (authentication, limits, combo control requests).
    pub(crate) fn create_session(
        &self,
        req: &CreateSession,
        client: ClientInfo,
    ) -> Result<Arc<Session>, Closed> {
        let set_name = req.adapter_set.as_deref().unwrap_or("DEFAULT");
        let set = self.sets.get(set_name).cloned().ok_or_else(|| Closed {
            code: 2,
            message: format!("Requested Adapter Set not available: {set_name}"),
        })?;
        set.metadata
            .authenticate(
                req.user.as_deref(),
                req.password.as_ref().map(|p| p.expose()),
                &client,
            )
            .map_err(refusal_to_closed)?;
        self.check_session_room()?;
        let now = Instant::now();
        let session = Session::new(
            self.new_id(),
            client,
            set,
            self.config.clone(),
            Arc::clone(&self.delays),
            now,
        );
        if let Some(bw) = req.requested_max_bandwidth {
            session.constrain_initial(bw);
        }
        for op in &req.controls {
            let result = match op {
                ControlOp::Add(sub) => session.subscribe(sub, None),
                _ => Err(Refusal::new(
                    64,
                    "only subscriptions may be combined with session creation",
                )),
            };
            if let Err(r) = result {
                session.close(64, "combo request failed");
                return Err(Closed {
                    code: 64,
                    message: format!("Generic error in the control request part: {}", r.message),
                });
            }
        }
        if let Some(old) = &req.old_session
            && let Some(s) = self.find(old.expose())
        {
            // The client replaced a session it lost: free the old one now. The client
            // itself gave up on it, which is what a destroy request says: END 31 ("closed
            // through a destroy request"). Not 35, which is the Metadata Adapter limiting
            // the sessions of a user, nor 40, a rebind of the same session.
            s.close(31, "Session replaced by a new session of the same client");
            self.remove(old.expose());
        }
        {
            // Checked again where the session is registered: concurrent creations cannot
            // all pass the check above and go beyond the limit together.
            let mut sessions = self.sessions();
            if let Some(max) = self.config.max_sessions
                && sessions.len() >= max
            {
                drop(sessions);
                session.close(8, "session count limit reached");
                return Err(too_many_sessions());
            }
            sessions.insert(session.id.expose().to_owned(), session.clone());
        }
        Ok(session)
    }

    /// Refuses a new session beyond `max_sessions` (`CONERR` 8), or once the server is
    /// shutting down (`CONERR` 10, "new sessions temporarily blocked").
    fn check_session_room(&self) -> Result<(), Closed> {
        if self.shutdown.begun() {
            return Err(Closed {
                code: 10,
                message: "New sessions blocked: the server is shutting down".into(),
            });
        }
        if let Some(max) = self.config.max_sessions
            && self.sessions().len() >= max
        {
            return Err(too_many_sessions());
        }
        Ok(())
    }

    pub(crate) fn find(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions().get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) {
        self.sessions().remove(id);
    }

    /// All live sessions (for test hooks and metrics).
    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        self.sessions().values().cloned().collect()
    }

    /// Closes sessions that stayed unbound too long, and forgets closed ones.
    pub(crate) fn reap(&self, now: Instant) {
        let timeout = self.config.unbound_timeout;
        let mut expired = Vec::new();
        self.sessions().retain(|_, s| {
            let st = s.lock();
            let dead = st.closed.is_some()
                || st
                    .unbound_since
                    .is_some_and(|t| now.duration_since(t) > timeout + st.polling_grace);
            if dead {
                expired.push(s.clone());
            }
            !dead
        });
        for s in expired {
            s.close(34, "session timed out while unbound");
        }
    }
}

fn too_many_sessions() -> Closed {
    Closed {
        code: 8,
        message: "Configured maximum number of actively started sessions reached".into(),
    }
}

fn refusal_to_closed(r: Refusal) -> Closed {
    Closed {
        code: r.code,
        message: r.message,
    }
}
