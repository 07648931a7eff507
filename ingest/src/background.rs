//! Background decoding: streaming threads at the lowest CPU priority, for sources that can wait.
//!
//! A file is read as fast as analysis goes, so its decoder never has a deadline: it should use the
//! cycles the detectors leave idle instead of preempting one of ONNX Runtime's intra-op threads in
//! the middle of an operator, which stalls the operator's other thread at its barrier. On 2 cores
//! this took `make bench-ingest` from 0.87 to 0.90–0.93 of the raw models' speed.
//!
//! GStreamer's own thread pool reuses its threads across pipelines, and an unprivileged process can
//! raise a thread's niceness but never lower it again, so a pipeline that decodes in the background
//! gets its own [`BackgroundTaskPool`]: one new thread per streaming task, gone when the task ends.
//! Threads the decoder starts itself (libav's frame threads) inherit the niceness. Live sources keep
//! normal priority: they must keep up with the camera, and analysis drops frames instead.

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

/// Niceness of background streaming threads (the lowest priority).
pub const BACKGROUND_NICENESS: i32 = 19;

mod imp {
    use super::*;
    use gst::subclass::prelude::*;

    /// See [`super::BackgroundTaskPool`].
    #[derive(Default)]
    pub struct BackgroundTaskPool;

    #[glib::object_subclass]
    impl ObjectSubclass for BackgroundTaskPool {
        const NAME: &'static str = "SightlineBackgroundTaskPool";
        type Type = super::BackgroundTaskPool;
        type ParentType = gst::TaskPool;
    }

    impl ObjectImpl for BackgroundTaskPool {}

    impl GstObjectImpl for BackgroundTaskPool {}

    impl TaskPoolImpl for BackgroundTaskPool {
        type Handle = Thread;

        fn push(&self, task: gst::subclass::TaskPoolFunction) -> Result<Option<Thread>, glib::Error> {
            let thread = std::thread::Builder::new()
                .name("sightline-decode".into())
                .spawn(move || {
                    lower_this_threads_priority();
                    task.call();
                })
                .map_err(|e| glib::Error::new(gst::CoreError::Thread, &format!("starting a streaming thread: {e}")))?;
            Ok(Some(Thread(thread)))
        }
    }

    /// A streaming task's thread.
    pub struct Thread(std::thread::JoinHandle<()>);

    impl gst::TaskHandle for Thread {
        fn join(self) {
            if self.0.join().is_err() {
                tracing::error!("a background streaming thread panicked");
            }
        }
    }
}

glib::wrapper! {
    /// A GStreamer task pool whose tasks each run on a new thread at [`BACKGROUND_NICENESS`].
    pub struct BackgroundTaskPool(ObjectSubclass<imp::BackgroundTaskPool>) @extends gst::TaskPool, gst::Object;
}

impl Default for BackgroundTaskPool {
    fn default() -> Self {
        glib::Object::new()
    }
}

/// Makes every streaming task `pipeline` creates from now on run in the background (on a
/// [`BackgroundTaskPool`]). Call before starting the pipeline.
pub fn decode_in_background(pipeline: &gst::Pipeline) {
    let Some(bus) = pipeline.bus() else { return };
    bus.set_sync_handler(|_, message| {
        if let gst::MessageView::StreamStatus(status) = message.view() {
            let task = status.stream_status_object().and_then(|value| value.get::<gst::Task>().ok());
            if let (gst::StreamStatusType::Create, Some(task)) = (status.get().0, task) {
                task.set_pool(&BackgroundTaskPool::default());
            }
        }
        gst::BusSyncReply::Pass
    });
}

/// Raises the calling thread's niceness to [`BACKGROUND_NICENESS`] (Linux: per thread).
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority takes plain integers; on Linux `who = 0` with PRIO_PROCESS is the
        // calling thread.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICENESS) };
        if result != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "lowering a streaming thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of one of this process's threads, from procfs.
    fn niceness_of(thread: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{thread}/stat")).expect("stat");
        // Field 19 (nice), counted after the command name in parentheses.
        stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(16)).expect("nice").parse().expect("int")
    }

    #[test]
    fn a_file_pipelines_streaming_threads_run_at_the_lowest_priority() {
        gst::init().expect("gstreamer");
        // SAFETY: gettid has no arguments and cannot fail.
        let this_thread = unsafe { libc::gettid() };
        let niceness_before = niceness_of(this_thread);
        let pipeline = gst::parse::launch("videotestsrc num-buffers=5 ! queue ! appsink name=sink sync=false")
            .expect("pipeline")
            .downcast::<gst::Pipeline>()
            .expect("a pipeline");
        decode_in_background(&pipeline);
        let sink = pipeline.by_name("sink").and_then(|e| e.downcast::<gstreamer_app::AppSink>().ok()).expect("sink");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        sink.set_callbacks(
            gstreamer_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let _ = sink.pull_sample();
                    // SAFETY: gettid has no arguments and cannot fail.
                    let thread = unsafe { libc::gettid() };
                    record.lock().expect("lock").push(niceness_of(thread));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).expect("playing");
        let bus = pipeline.bus().expect("bus");
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
        pipeline.set_state(gst::State::Null).expect("stopped");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, vec![BACKGROUND_NICENESS; 5], "every buffer is handled on a background thread");
        assert_eq!(niceness_of(this_thread), niceness_before, "the calling thread keeps its priority");
    }
}
