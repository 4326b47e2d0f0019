fn main() {
    println!("havip: not yet");
}
