//! Password hashing (argon2id, PHC strings) on a bounded set of threads.
//!
//! One argon2id computation with the default parameters takes 19 MiB and tens of milliseconds of
//! one core. Run on tokio's blocking pool, a flood of logins started one per request: a hundred wrong
//! logins at once took a service from 466 MB to 2.3 GB, and the allocator kept it. Here the work runs
//! on one thread per core, each reusing its own memory; a request waits its turn for at most the
//! caller's `wait` and is then refused ([`PasswordError::Busy`], a 503), so memory stays flat however
//! many logins arrive.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why password work was not done.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every password thread stayed busy for the whole wait.
    #[error("too many logins at once; try again in a moment")]
    Busy,
    /// Hashing failed (it does not, with valid parameters), or a password thread is gone.
    #[error("password hashing: {0}")]
    Hash(String),
}

/// The argon2id hash of `password`, as a PHC string, with a fresh random salt (on the caller's
/// thread; services go through [`hash`]).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt =
        SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

thread_local! {
    /// The argon2 working memory of this thread, allocated once and reused by every check made here:
    /// freed and allocated again per check, 19 MiB at a time, the allocator kept several copies of
    /// it per thread.
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash), on the caller's
/// thread, in its reused working memory; services go through [`verify`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = WORKING_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory[..blocks])
    });
    // Output's equality takes the same time wherever the bytes differ.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == expected)
}

/// Hashes `password` on a password thread, waiting at most `wait` for one.
pub async fn hash(password: String, wait: Duration) -> Result<String, PasswordError> {
    POOL.run(wait, move || hash_password(&password)).await?
}

/// Checks `password` against `hash` on a password thread, waiting at most `wait` for one.
pub async fn verify(password: String, hash: String, wait: Duration) -> Result<bool, PasswordError> {
    POOL.run(wait, move || verify_password(&password, &hash)).await
}

type Job = Box<dyn FnOnce() + Send>;

/// One thread per core taking jobs from a queue; a job holds one of the pool's permits from before it
/// is queued until it is done, so no more jobs exist than threads.
struct PasswordPool {
    permits: Arc<Semaphore>,
    jobs: Mutex<mpsc::SyncSender<Job>>,
}

static POOL: LazyLock<PasswordPool> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    PasswordPool::start(threads)
});

impl PasswordPool {
    fn start(threads: usize) -> Self {
        let (sender, receiver) = mpsc::sync_channel::<Job>(threads);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new().name(format!("password-{index}")).spawn(move || {
                loop {
                    // The lock is held only while taking a job, never while running it.
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "starting a password thread");
            }
        }
        Self { permits: Arc::new(Semaphore::new(threads)), jobs: Mutex::new(sender) }
    }

    /// Runs `work` on a password thread once a permit is free (at most `wait`), and returns its result.
    /// A caller that gives up after queueing does not free the permit early: the job keeps it.
    async fn run<T: Send + 'static>(
        &self,
        wait: Duration,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit: OwnedSemaphorePermit = tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Hash("password pool closed".into()))?;
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
            drop(permit);
        });
        // A permit is held per queued or running job and the queue holds as many as there are
        // permits, so this never waits.
        self.jobs
            .lock()
            .map_err(|_| PasswordError::Hash("password queue poisoned".into()))?
            .try_send(job)
            .map_err(|_| PasswordError::Hash("password queue full".into()))?;
        result.await.map_err(|_| PasswordError::Hash("a password thread stopped".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let first = hash_password("correct horse battery").unwrap();
        let second = hash_password("correct horse battery").unwrap();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "a fresh salt each time");
        assert!(verify_password("correct horse battery", &first));
        assert!(!verify_password("correct horse battery!", &first));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[tokio::test]
    async fn the_pool_runs_no_more_than_its_threads_and_refuses_after_the_wait() {
        let pool = PasswordPool::start(2);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs = (0..6).map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            pool.run(Duration::from_secs(10), move || {
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                running.fetch_sub(1, SeqCst);
            })
        });
        for result in futures::future::join_all(jobs).await {
            result.unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2, "two threads, two at once");

        // Both threads busy for a second: a third job waiting 100 ms is refused as busy.
        let slow = || std::thread::sleep(Duration::from_secs(1));
        let (first, second, third) =
            tokio::join!(pool.run(Duration::from_secs(5), slow), pool.run(Duration::from_secs(5), slow), async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                pool.run(Duration::from_millis(100), || ()).await
            });
        assert!(first.is_ok() && second.is_ok());
        assert!(matches!(third, Err(PasswordError::Busy)), "{third:?}");
    }
}
