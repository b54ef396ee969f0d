//! A throw-away Redis server for one test (`server::harness::RedisServer`), panicking with
//! how to install it when it cannot start.
#![allow(dead_code)]

pub struct TestRedis(server::harness::RedisServer);

impl TestRedis {
    pub fn start() -> TestRedis {
        match server::harness::RedisServer::start() {
            Ok(r) => TestRedis(r),
            Err(e) => panic!("{e}"),
        }
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    pub fn stop(&mut self) {
        self.0.stop();
    }

    pub fn start_again(&mut self) {
        if let Err(e) = self.0.start_again() {
            panic!("{e}");
        }
    }
}
