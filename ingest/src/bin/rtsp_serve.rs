//! `sightline-rtsp-serve`: an RTSP server (gst-rtsp-server) for tests and the demo.
//!
//! `sightline-rtsp-serve --port 8554 --mount /people --file people.mp4` serves an H.264 mp4 in real
//! time; every connection plays it from its start, so a client that reconnects after the end (as
//! Sightline's live sources do) sees it again. Without `--file` it serves a live moving test pattern
//! (640x360 at 15 fps) shared by all clients. With `--log-plays` it prints `play <ms since the epoch>`
//! on stdout whenever a client starts playing (the file's first frame leaves then), so a benchmark
//! can tell when each person of the video appears. With `--credentials user:password` clients must
//! log in (HTTP basic), as most cameras ask.

use clap::Parser;
use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

#[derive(Parser)]
#[command(name = "sightline-rtsp-serve", about = "Serve a video or a test pattern over RTSP")]
struct Cli {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Mount point, e.g. `/people`.
    #[arg(long, default_value = "/test")]
    mount: String,
    /// An H.264 mp4 to serve; a live test pattern when absent.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Print `play <ms since the epoch>` when a client starts playing.
    #[arg(long)]
    log_plays: bool,
    /// `user:password`: clients must log in with these (HTTP basic), as cameras often ask.
    #[arg(long)]
    credentials: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    gst::init()?;
    let launch = match &cli.file {
        Some(file) => format!(
            "( filesrc location=\"{}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            file.display()
        ),
        None => "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1 ! \
                 x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
            .to_owned(),
    };
    let server = rtsp::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&cli.port.to_string());
    let mounts = server.mount_points().ok_or_else(|| anyhow::anyhow!("the server has no mount points"))?;
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&launch);
    factory.set_shared(cli.file.is_none());
    if let Some(credentials) = &cli.credentials {
        let (user, password) =
            credentials.split_once(':').ok_or_else(|| anyhow::anyhow!("--credentials takes user:password"))?;
        let auth = rtsp::RTSPAuth::new();
        let token = rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer").build();
        auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
        server.set_auth(Some(&auth));
        let role = gst::Structure::builder("viewer")
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
            .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
            .build();
        factory.add_role_from_structure(&role);
    }
    mounts.add_factory(&cli.mount, factory);
    if cli.log_plays {
        server.connect_client_connected(|_, client| {
            client.connect_play_request(|_, _| {
                use std::io::Write as _;
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "play {}", now.as_millis());
                let _ = out.flush();
            });
        });
    }
    let main_loop = gst::glib::MainLoop::new(None, false);
    let _source = server.attach(None)?;
    println!("serving rtsp://127.0.0.1:{}{}", cli.port, cli.mount);
    main_loop.run();
    Ok(())
}
